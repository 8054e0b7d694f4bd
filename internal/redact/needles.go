package redact

import "strings"

// needles is a set of strings sought together in one pass over a view:
// indexed by their first two bytes, so that a text is read once whatever
// the number of spellings (a birthday alone has some fifty).
type needles struct {
	all     []string
	short   []string // one byte long: sought one by one
	first   [256]bool
	byStart map[uint16][]string
}

func (n *needles) add(s string) {
	n.all = append(n.all, s)
	if len(s) < 2 {
		n.short = append(n.short, s)
		return
	}
	if n.byStart == nil {
		n.byStart = map[uint16][]string{}
	}
	k := uint16(s[0])<<8 | uint16(s[1])
	n.first[s[0]] = true
	n.byStart[k] = append(n.byStart[k], s)
}

// find appends to spans the parts of b where a needle occurs in its view
// by viewOf.
func (n *needles) find(b []byte, viewOf viewOf, spans []span) []span {
	if len(n.all) == 0 {
		return spans
	}
	v := viewOf(b, false)
	if !n.each(&v, func(int, string) bool { return false }) {
		return spans // no match: where the view came from is not needed
	}
	v = viewOf(b, true)
	n.each(&v, func(i int, s string) bool {
		spans = append(spans, v.match(i, s))
		return true
	})
	return spans
}

// each calls found for every needle in the view and where it starts, as
// long as found returns true; it reports whether there was any.
func (n *needles) each(v *view, found func(i int, s string) bool) bool {
	t := v.text
	any := false
	for _, s := range n.short {
		for off := 0; ; {
			i := strings.Index(t[off:], s)
			if i < 0 {
				break
			}
			if any = true; !found(off+i, s) {
				return true
			}
			off += i + len(s)
		}
	}
	for i := 0; i+1 < len(t); i++ {
		if !n.first[t[i]] {
			continue
		}
		for _, s := range n.byStart[uint16(t[i])<<8|uint16(t[i+1])] {
			if strings.HasPrefix(t[i:], s) {
				if any = true; !found(i, s) {
					return true
				}
			}
		}
	}
	return any
}

// cut returns where b must be cut so that its view by viewOf does not end
// with a proper prefix of a needle, or len(b) when it does not.
func (n *needles) cut(b []byte, viewOf viewOf) int {
	if len(n.all) == 0 {
		return len(b)
	}
	v := viewOf(b, false)
	start := len(v.text)
	for _, s := range n.all {
		start = min(start, v.prefixStart(s))
	}
	if start == len(v.text) {
		return len(b)
	}
	v = viewOf(b, true)
	return int(v.origin(start).start)
}
