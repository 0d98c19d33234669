// Answers questions about Masterminds semver v1.5.0 (the library the original One-Click
// backend used for its semver policy), one per stdin line, one answer per stdout line:
//
//	V <tab> version              -> the parsed version's String(), or VERR
//	L <tab> a <tab> b            -> whether a < b
//	C <tab> constraint <tab> v   -> whether v satisfies the constraint, or CERR / VERR
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/Masterminds/semver"
)

func answer(fields []string) string {
	switch fields[0] {
	case "V":
		v, err := semver.NewVersion(fields[1])
		if err != nil {
			return "VERR"
		}
		return v.String()
	case "L":
		a, errA := semver.NewVersion(fields[1])
		b, errB := semver.NewVersion(fields[2])
		if errA != nil || errB != nil {
			return "VERR"
		}
		return fmt.Sprint(a.LessThan(b))
	case "C":
		c, err := semver.NewConstraint(fields[1])
		if err != nil {
			return "CERR"
		}
		v, err := semver.NewVersion(fields[2])
		if err != nil {
			return "VERR"
		}
		return fmt.Sprint(c.Check(v))
	}
	return "?"
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(answer(strings.Split(in.Text(), "\t")))
	}
}
