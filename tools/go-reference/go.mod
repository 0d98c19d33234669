module oneclick/go-reference

go 1.22

require github.com/Masterminds/semver v1.5.0
