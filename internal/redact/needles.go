package redact

import "bytes"

// needles is a set of strings sought together in one pass over a view:
// indexed by their first two bytes, so that a text is read once whatever
// the number of spellings (a birthday alone has some fifty).
type needles struct {
	all     [][]byte
	short   [][]byte // one byte long: sought one by one
	first   [256]bool
	byStart map[uint16][][]byte
}

func (n *needles) add(s string) {
	b := []byte(s)
	n.all = append(n.all, b)
	if len(b) < 2 {
		n.short = append(n.short, b)
		return
	}
	if n.byStart == nil {
		n.byStart = map[uint16][][]byte{}
	}
	k := uint16(b[0])<<8 | uint16(b[1])
	n.first[b[0]] = true
	n.byStart[k] = append(n.byStart[k], b)
}

// find appends to spans the parts of the original where a needle occurs
// in v, a view of b by viewOf built untracked: it is built again, tracked,
// only when a needle is found.
func (n *needles) find(b []byte, v *view, viewOf viewOf, spans []span) []span {
	if len(n.all) == 0 || !n.each(v, func(int, []byte) bool { return false }) {
		return spans
	}
	tracked := viewOf(b, true)
	n.each(&tracked, func(i int, s []byte) bool {
		spans = append(spans, tracked.match(i, len(s)))
		return true
	})
	return spans
}

// each calls found for every needle in the view and where it starts, as
// long as found returns true; it reports whether there was any.
func (n *needles) each(v *view, found func(i int, s []byte) bool) bool {
	t := v.text
	any := false
	for _, s := range n.short {
		for off := 0; ; {
			i := bytes.Index(t[off:], s)
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
			if bytes.HasPrefix(t[i:], s) {
				if any = true; !found(i, s) {
					return true
				}
			}
		}
	}
	return any
}

// cut returns where b must be cut so that v, its view by viewOf, does not
// end with a proper prefix of a needle, or len(b) when it does not.
func (n *needles) cut(b []byte, v *view, viewOf viewOf) int {
	start := len(v.text)
	for _, s := range n.all {
		start = min(start, v.prefixStart(s))
	}
	if start == len(v.text) {
		return len(b)
	}
	tracked := viewOf(b, true)
	return int(tracked.origin(start).start)
}
