// Answers questions about the Go libraries the original One-Click backend used for its tag
// filter (regexp) and semver policy (Masterminds semver v1.5.0), one per stdin line, one
// answer per stdout line. A question is a JSON array of strings:
//
//	["V", version]               -> the parsed version's String(), or VERR
//	["L", a, b]                  -> whether a < b
//	["C", constraint, version]   -> whether the version satisfies the constraint, or CERR / VERR
//	["R", pattern, tag]          -> regexp.MatchString (unanchored), or RERR
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

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
	case "R":
		r, err := regexp.Compile(fields[1])
		if err != nil {
			return "RERR"
		}
		return fmt.Sprint(r.MatchString(fields[2]))
	}
	return "?"
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var fields []string
		if err := json.Unmarshal(in.Bytes(), &fields); err != nil {
			fmt.Println("?")
			continue
		}
		fmt.Println(answer(fields))
	}
}
