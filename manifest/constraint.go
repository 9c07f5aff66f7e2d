package manifest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ConstraintPattern is the syntax of the manifest's `desksync:` field, which the JSON
// Schema restates: clauses such as ">= 1.3" joined by commas, each an operator (=, !=,
// >, >=, <, <=, or ~>, Terraform's "this release or a later one of the same series")
// and a version of one to three numbers with an optional pre-release.
const ConstraintPattern = `^\s*` + clausePattern + `(\s*,\s*` + clausePattern + `)*\s*$`

const clausePattern = `(=|!=|>=|<=|>|<|~>)?\s*v?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?`

func constraintSyntax() *regexp.Regexp { return regexp.MustCompile(ConstraintPattern) }

func clauseSyntax() *regexp.Regexp {
	return regexp.MustCompile(`^(=|!=|>=|<=|>|<|~>)?\s*v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z.-]+))?$`)
}

// Constraint is a parsed `desksync:` field: every clause must allow a version.
type Constraint struct {
	Text    string
	clauses []clause
}

type clause struct {
	op     string
	v      semver
	digits int // how many numbers the clause wrote, for ~>
}

type semver struct {
	n   [3]int
	pre string
}

// ParseConstraint reads a `desksync:` value such as ">= 1.3, < 2".
func ParseConstraint(text string) (Constraint, error) {
	if !constraintSyntax().MatchString(text) {
		return Constraint{}, fmt.Errorf("%q is not a version constraint such as \">= 1.3, < 2\"", text)
	}
	c := Constraint{Text: text}
	for _, part := range strings.Split(text, ",") {
		m := clauseSyntax().FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return Constraint{}, fmt.Errorf("%q: %q is not a version clause such as \">= 1.3\"", text, part)
		}
		cl := clause{op: m[1], v: semver{pre: m[5]}}
		if cl.op == "" {
			cl.op = "="
		}
		for i, d := range m[2:5] {
			if d == "" {
				continue
			}
			n, err := strconv.Atoi(d)
			if err != nil {
				return Constraint{}, fmt.Errorf("%q: %s is too large a version number", text, d)
			}
			cl.v.n[i], cl.digits = n, i+1
		}
		if cl.op == "~>" && cl.digits < 2 {
			return Constraint{}, fmt.Errorf("%q: ~> needs at least two numbers (~> 1.3 allows 1.3 up to, not including, 2.0)", text)
		}
		c.clauses = append(c.clauses, cl)
	}
	return c, nil
}

// parseVersion reads a release version such as v1.3.0 or v1.3.1-0.20261130100000-abcdef
// (a Go pseudo-version, which sorts just after the release it follows and before
// the next). ok is false for anything else, "(devel)" included.
func parseVersion(s string) (semver, bool) {
	m := clauseSyntax().FindStringSubmatch(strings.SplitN(s, "+", 2)[0])
	if m == nil || m[1] != "" || !strings.HasPrefix(s, "v") || m[4] == "" {
		return semver{}, false
	}
	var v semver
	for i, d := range m[2:5] {
		n, err := strconv.Atoi(d)
		if err != nil {
			return semver{}, false
		}
		v.n[i] = n
	}
	v.pre = m[5]
	return v, true
}

// DevelopmentBuild reports whether version names no release: "(devel)" (a build in a
// work tree), a snapshot, or a pseudo-version with no release before it (v0.0.0-…).
// Such a build cannot know which releases it sits between, so a constraint does not
// bind it (Allows says why).
func DevelopmentBuild(version string) bool {
	v, ok := parseVersion(version)
	return !ok || (v.n == [3]int{} && v.pre != "")
}

// Allows reports whether the desksync release version satisfies every clause.
func (c Constraint) Allows(version string) bool {
	v, ok := parseVersion(version)
	if !ok {
		return false
	}
	for _, cl := range c.clauses {
		d := compare(v, cl.v)
		var ok bool
		switch cl.op {
		case "=":
			ok = d == 0
		case "!=":
			ok = d != 0
		case ">":
			ok = d > 0
		case ">=":
			ok = d >= 0
		case "<":
			ok = d < 0
		case "<=":
			ok = d <= 0
		case "~>":
			// ~> 1.3 is >= 1.3, < 2; ~> 1.3.2 is >= 1.3.2, < 1.4.
			upper := semver{}
			copy(upper.n[:], cl.v.n[:cl.digits-1])
			upper.n[cl.digits-2]++
			ok = d >= 0 && compare(v, upper) < 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// compare orders versions as semantic versioning does: numbers first, then a
// pre-release before its release, pre-releases by their dot-separated identifiers.
func compare(a, b semver) int {
	for i := range a.n {
		if a.n[i] != b.n[i] {
			if a.n[i] < b.n[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	ai, bi := strings.Split(a.pre, "."), strings.Split(b.pre, ".")
	for i := 0; i < len(ai) && i < len(bi); i++ {
		if ai[i] == bi[i] {
			continue
		}
		an, aerr := strconv.Atoi(ai[i])
		bn, berr := strconv.Atoi(bi[i])
		switch {
		case aerr == nil && berr == nil:
			if an < bn {
				return -1
			}
			return 1
		case aerr == nil: // numeric identifiers sort first
			return -1
		case berr == nil:
			return 1
		case ai[i] < bi[i]:
			return -1
		default:
			return 1
		}
	}
	switch {
	case len(ai) < len(bi):
		return -1
	case len(ai) > len(bi):
		return 1
	}
	return 0
}
