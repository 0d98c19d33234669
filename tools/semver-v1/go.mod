module oneclick/semver-v1

go 1.22

require github.com/Masterminds/semver v1.5.0
