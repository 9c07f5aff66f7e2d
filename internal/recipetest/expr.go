package recipetest

import (
	"fmt"
	"strconv"
	"strings"
)

// evalGitHub evaluates a GitHub Actions expression (the part inside ${{ }}) with
// GitHub's rules as far as the recipes use them: literals, property access through
// contexts, ! == != < > && || and parentheses, and the functions always, success,
// failure, cancelled, startsWith, endsWith, contains and format. && and || return
// an operand, not a bool; == on two strings ignores case; a missing property is null.
func evalGitHub(src string, ctx map[string]any, status func(fn string) bool) (any, error) {
	p := &exprParser{src: src, ctx: ctx, status: status}
	p.next()
	v, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	if p.tok.kind != tokEOF {
		return nil, fmt.Errorf("expression %q: unexpected %q", src, p.tok.text)
	}
	return v, nil
}

// truthy is GitHub's coercion to a boolean.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return true
}

// str is GitHub's coercion to a string, as ${{ }} interpolation writes a value.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

func num(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return -1 // NaN in GitHub; never equal to anything the recipes compare with
		}
		return f
	}
	return -1
}

func equal(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	if a == nil && b == nil {
		return true
	}
	return num(a) == num(b)
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp
)

type token struct {
	kind tokKind
	text string
}

type exprParser struct {
	src    string
	pos    int
	tok    token
	ctx    map[string]any
	status func(string) bool
}

func (p *exprParser) next() {
	s := p.src
	for p.pos < len(s) && (s[p.pos] == ' ' || s[p.pos] == '\t' || s[p.pos] == '\n') {
		p.pos++
	}
	if p.pos >= len(s) {
		p.tok = token{kind: tokEOF}
		return
	}
	c := s[p.pos]
	switch {
	case c == '\'':
		var b strings.Builder
		i := p.pos + 1
		for i < len(s) {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			b.WriteByte(s[i])
			i++
		}
		p.pos = i + 1
		p.tok = token{kind: tokString, text: b.String()}
	case c >= '0' && c <= '9':
		i := p.pos
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		p.tok = token{kind: tokNumber, text: s[p.pos:i]}
		p.pos = i
	case isIdent(c):
		i := p.pos
		for i < len(s) && (isIdent(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
			i++
		}
		p.tok = token{kind: tokIdent, text: s[p.pos:i]}
		p.pos = i
	default:
		for _, op := range []string{"&&", "||", "==", "!=", "<=", ">=", "!", "<", ">", "(", ")", "[", "]", ".", ","} {
			if strings.HasPrefix(s[p.pos:], op) {
				p.tok = token{kind: tokOp, text: op}
				p.pos += len(op)
				return
			}
		}
		p.tok = token{kind: tokOp, text: string(c)}
		p.pos++
	}
}

func isIdent(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (p *exprParser) is(op string) bool { return p.tok.kind == tokOp && p.tok.text == op }

func (p *exprParser) or() (any, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.is("||") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if !truthy(l) {
			l = r
		}
	}
	return l, nil
}

func (p *exprParser) and() (any, error) {
	l, err := p.cmp()
	if err != nil {
		return nil, err
	}
	for p.is("&&") {
		p.next()
		r, err := p.cmp()
		if err != nil {
			return nil, err
		}
		if truthy(l) {
			l = r
		}
	}
	return l, nil
}

func (p *exprParser) cmp() (any, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.is("==") || p.is("!=") || p.is("<") || p.is(">") || p.is("<=") || p.is(">=") {
		op := p.tok.text
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		switch op {
		case "==":
			l = equal(l, r)
		case "!=":
			l = !equal(l, r)
		case "<":
			l = num(l) < num(r)
		case ">":
			l = num(l) > num(r)
		case "<=":
			l = num(l) <= num(r)
		case ">=":
			l = num(l) >= num(r)
		}
	}
	return l, nil
}

func (p *exprParser) unary() (any, error) {
	if p.is("!") {
		p.next()
		v, err := p.unary()
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	}
	return p.primary()
}

func (p *exprParser) primary() (any, error) {
	switch p.tok.kind {
	case tokString:
		v := p.tok.text
		p.next()
		return v, nil
	case tokNumber:
		v, err := strconv.ParseFloat(p.tok.text, 64)
		p.next()
		return v, err
	case tokOp:
		if p.is("(") {
			p.next()
			v, err := p.or()
			if err != nil {
				return nil, err
			}
			if !p.is(")") {
				return nil, fmt.Errorf("missing )")
			}
			p.next()
			return v, nil
		}
		return nil, fmt.Errorf("unexpected %q", p.tok.text)
	case tokIdent:
		name := p.tok.text
		p.next()
		switch name {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		if p.is("(") {
			return p.call(name)
		}
		v, ok := p.ctx[name]
		if !ok {
			return nil, fmt.Errorf("unknown context %q", name)
		}
		return p.access(v)
	}
	return nil, fmt.Errorf("unexpected end")
}

func (p *exprParser) access(v any) (any, error) {
	for {
		switch {
		case p.is("."):
			p.next()
			if p.tok.kind != tokIdent {
				//lint:ignore ST1005 the message ends with the "." token it quotes, not with punctuation
				return nil, fmt.Errorf("want a property name after .")
			}
			v = prop(v, p.tok.text)
			p.next()
		case p.is("["):
			p.next()
			k, err := p.or()
			if err != nil {
				return nil, err
			}
			if !p.is("]") {
				return nil, fmt.Errorf("missing ]")
			}
			p.next()
			v = prop(v, str(k))
		default:
			return v, nil
		}
	}
}

// prop looks a property up case-insensitively, as GitHub does; null when absent.
func prop(v any, name string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[name]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, name) {
			return x
		}
	}
	return nil
}

func (p *exprParser) call(name string) (any, error) {
	p.next() // (
	var args []any
	for !p.is(")") {
		v, err := p.or()
		if err != nil {
			return nil, err
		}
		args = append(args, v)
		if p.is(",") {
			p.next()
		} else if !p.is(")") {
			return nil, fmt.Errorf("want , or ) in %s()", name)
		}
	}
	p.next()
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s() takes %d arguments, got %d", name, n, len(args))
		}
		return nil
	}
	switch strings.ToLower(name) {
	case "always", "success", "failure", "cancelled":
		return p.status(strings.ToLower(name)), want(0)
	case "startswith":
		return strings.HasPrefix(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), want(2)
	case "endswith":
		return strings.HasSuffix(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), want(2)
	case "contains":
		return strings.Contains(strings.ToLower(str(args[0])), strings.ToLower(str(args[1]))), want(2)
	case "format":
		if len(args) == 0 {
			return nil, fmt.Errorf("format() needs a format")
		}
		out := str(args[0])
		for i, a := range args[1:] {
			out = strings.ReplaceAll(out, "{"+strconv.Itoa(i)+"}", str(a))
		}
		return out, nil
	}
	return nil, fmt.Errorf("function %s() is not one the recipes may use here", name)
}

// interpolate replaces every ${{ expr }} in s with the expression's string value.
func interpolate(s string, ctx map[string]any, status func(string) bool) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("unterminated ${{ in %q", s)
		}
		v, err := evalGitHub(s[i+3:i+j], ctx, status)
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(str(v))
		s = s[i+j+2:]
	}
}

// condition evaluates an if: the way GitHub does: with or without ${{ }}, and with
// success() added when the expression calls no status function.
func condition(src string, ctx map[string]any, status func(string) bool) (bool, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return status("success"), nil
	}
	if strings.HasPrefix(src, "${{") && strings.HasSuffix(src, "}}") {
		src = strings.TrimSpace(src[3 : len(src)-2])
	}
	lower := strings.ToLower(src)
	if !strings.Contains(lower, "always(") && !strings.Contains(lower, "success(") &&
		!strings.Contains(lower, "failure(") && !strings.Contains(lower, "cancelled(") {
		src = "success() && (" + src + ")"
	}
	v, err := evalGitHub(src, ctx, status)
	return truthy(v), err
}
