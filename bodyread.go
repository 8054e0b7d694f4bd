package kryptogo

import (
	"bytes"
	"io"
	"runtime"
	"sync"
)

// Reading an answer allocates about its size, cold or warm, whatever the
// answer holds or claims:
//
//   - a declared length over the limit is not read at all;
//   - a small declared length (up to directRead) is read straight into a
//     buffer of that size;
//   - a larger declared length is only a claim (a slow answer that has
//     sent one byte must not pin a buffer of the whole claim): the first
//     1/stageFraction of it is read into pooled blocks as it arrives, and
//     then the exact buffer is allocated and the rest read into it;
//   - an answer of unknown length is read into pooled blocks and copied
//     out once, at its end;
//   - an answer over the limit keeps only the head its reader asked for
//     (bodyCap.keep): an error's window, or the first bytes of a 2xx, whose
//     shape is all anyone reads of it; and its limit is read into blocks
//     of its size, without one more block for the byte that tells the
//     answer goes on.

// bodyBlock is the unit in which answers are read into pooled blocks.
const bodyBlock = 32 << 10

// directRead is the largest declared length read straight into a buffer
// of that size: what a slow answer can pin per connection.
const directRead = 64 << 10

// stageFraction: a larger declared length gets its buffer once this
// fraction of it has arrived (1/32: 3% more than the body, at most).
const stageFraction = 32

// bodyCap is how much of an answer is read (limit), and how much of the
// head of an answer over it is kept (keep).
type bodyCap struct{ limit, keep int64 }

// wholeCap reads limit bytes and keeps them all of an answer over it.
func wholeCap(limit int64) bodyCap { return bodyCap{limit: limit, keep: limit} }

// readBody reads at most c.limit bytes of an answer of the given length
// (-1 when unknown); truncated reports a longer answer, of which body is
// the head, at most c.keep bytes. A declared length over the limit is not
// read at all, unless its reader keeps the whole limit (an error's
// window: a maintenance page longer than it still has its title read);
// then the limit is read, as of an answer of unknown length.
func readBody(r io.Reader, length int64, c bodyCap) (body []byte, truncated bool, err error) {
	switch {
	case length > c.limit && c.keep < c.limit:
		return nil, true, nil
	case length > c.limit:
		length = -1
	case length >= 0 && length <= directRead:
		return readDeclared(r, make([]byte, length, length+1), 0, c) // +1: readDeclared's probe
	case length > directRead:
		return readStaged(r, length, c)
	}
	var bs blocks
	defer bs.release(c.limit)
	return bs.readAll(r, c)
}

// readStaged reads an answer of a large declared length: its first
// 1/stageFraction as it arrives, then the rest into a buffer of the
// declared size. The first part goes into one buffer of its size when it
// is smaller than a block, else into pooled blocks.
func readStaged(r io.Reader, length int64, c bodyCap) ([]byte, bool, error) {
	stage := length / stageFraction
	if stage < bodyBlock {
		head := make([]byte, stage)
		n, err := readFull(r, head)
		if err != nil {
			return head[:n], false, declaredEnd(err)
		}
		body := make([]byte, length, length+1)
		return readDeclared(r, body, copy(body, head), c)
	}
	var bs blocks
	defer bs.release(c.limit)
	if err := bs.fill(r, stage); err != nil && (err != io.EOF || bs.total < stage) {
		return bs.join(bs.total), false, declaredEnd(err)
	} // an io.EOF with the stage's last bytes comes again, below
	body := make([]byte, length, length+1)
	staged := bs.copyTo(body)
	bs.release(c.limit)
	return readDeclared(r, body, staged, c)
}

// readFull is io.ReadFull, except that a reader that returns nothing, and
// no error, maxEmptyReads times in a row fails with io.ErrNoProgress
// instead of being read forever. It returns io.EOF when nothing was read.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		switch {
		case n == len(buf):
			return n, nil // an io.EOF that came with the last bytes comes again
		case err == io.EOF && n > 0:
			return n, io.ErrUnexpectedEOF
		case err != nil:
			return n, err
		case k > 0:
			empty = 0
		case empty >= maxEmptyReads:
			return n, io.ErrNoProgress
		default:
			empty++
		}
	}
	return n, nil
}

// declaredEnd is the error of an answer that ended, or failed, before its
// declared length.
func declaredEnd(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readDeclared reads the rest of an answer of len(body) declared bytes
// into body, whose first have bytes are already there, and makes sure the
// answer ends there. A spare byte of capacity past len(body) serves as the
// probe of that end (no allocation of its own).
func readDeclared(r io.Reader, body []byte, have int, c bodyCap) ([]byte, bool, error) {
	n, err := readFull(r, body[have:])
	if err != nil {
		return body[:have+n], false, declaredEnd(err)
	}
	// The answer must end here: net/http's reader does, another may not.
	probe := body[len(body):cap(body)]
	if len(probe) == 0 {
		probe = make([]byte, 1)
	}
	probe = probe[:1]
	k, err := readFull(r, probe)
	if k == 0 {
		if err == io.EOF {
			err = nil
		}
		return body, false, err
	}
	var more blocks
	defer more.release(c.limit)
	got := int64(len(body))
	rest, truncated, err := more.readAll(io.MultiReader(bytes.NewReader(probe), r), bodyCap{limit: c.limit - got, keep: max(0, c.keep-got)})
	if truncated {
		return append(body, rest...)[:min(got+int64(len(rest)), c.keep)], true, err
	}
	return append(body, rest...), false, err
}

// block is the unit in which answers are read into pooled memory.
type block = [bodyBlock]byte

// blocks is an answer read into pooled blocks as its bytes arrive.
type blocks struct {
	list  []*block
	used  int // bytes in the last block
	total int64
	spare []byte // a few bytes read before taking another block
}

// fill reads until want bytes have arrived, or the answer ends (io.EOF) or
// fails. A block after the first is taken only once bytes arrived for it:
// an answer that ends on a block's boundary takes no empty block.
func (bs *blocks) fill(r io.Reader, want int64) error {
	empty := 0 // reads in a row that returned nothing
	for bs.total < want {
		var n int
		var err error
		switch {
		case len(bs.list) == 0: // the answer's first bytes need a block anyway
			bs.list = append(bs.list, pool.get())
			n, err = r.Read(bs.list[0][:])
			bs.used = n
		case bs.used == bodyBlock:
			if n, err = bs.readSpare(r); n > 0 {
				bs.list = append(bs.list, pool.get())
				bs.used = copy(bs.list[len(bs.list)-1][:], bs.spare[:n])
			}
		default:
			n, err = r.Read(bs.list[len(bs.list)-1][bs.used:])
			bs.used += n
		}
		bs.total += int64(n)
		switch {
		case err != nil:
			return err
		case n > 0:
			empty = 0
		case empty >= maxEmptyReads:
			return io.ErrNoProgress
		default:
			empty++
		}
	}
	return nil
}

// maxEmptyReads bounds the reads in a row that return no byte and no
// error, as bufio does: the reader is broken.
const maxEmptyReads = 100

// spareSize is how much is read ahead of taking a new block.
const spareSize = 512

func (bs *blocks) readSpare(r io.Reader) (int, error) {
	if bs.spare == nil {
		bs.spare = make([]byte, spareSize)
	}
	return r.Read(bs.spare)
}

// readAll reads the answer to its end, or past c.limit: then it is
// truncated, and only its head (c.keep) is copied out. The byte that tells
// an answer of exactly the limit from a longer one is read on its own:
// with the limit a multiple of the block, it would take a block more.
func (bs *blocks) readAll(r io.Reader, c bodyCap) ([]byte, bool, error) {
	err := bs.fill(r, c.limit)
	if err == nil && bs.total == c.limit {
		var probe [1]byte
		var k int
		if k, err = readFull(r, probe[:]); k > 0 {
			return bs.join(min(bs.total, c.keep)), true, nil
		}
	}
	switch {
	case bs.total > c.limit:
		return bs.join(min(bs.total, c.keep)), true, nil
	case err == io.EOF:
		return bs.join(bs.total), false, nil
	}
	return bs.join(bs.total), false, err
}

// join copies the first n bytes of the blocks into one slice.
func (bs *blocks) join(n int64) []byte {
	out := make([]byte, n)
	bs.copyTo(out)
	return out
}

// copyTo copies the blocks' bytes into out, as many as fit, and returns
// how many it copied.
func (bs *blocks) copyTo(out []byte) int {
	copied := 0
	for i, b := range bs.list {
		data := b[:]
		if i == len(bs.list)-1 {
			data = b[:bs.used]
		}
		copied += copy(out[copied:], data)
	}
	return copied
}

// release gives the blocks back to the pool, which keeps at most limit
// bytes of them (one answer's worth).
func (bs *blocks) release(limit int64) {
	pool.put(bs.list, limit)
	bs.list, bs.used, bs.total = nil, 0, 0
}

// blockPool is a bounded free list of read blocks, shared by every client.
// It keeps at most the limit of the read that gives blocks back (one
// answer's worth, and never more than DefaultMaxResponseBytes), and ages
// with the garbage collector as sync.Pool does: after a collection its
// blocks are kept one more cycle only, and after two idle cycles none is.
// (sync.Pool keeps whatever every concurrent read put back, a cap's worth
// each, for a whole cycle.)
type blockPool struct {
	mu     sync.Mutex
	fresh  []*block // given back since the last collection
	victim []*block // given back before it: freed at the next one
	cycles int      // collections seen, for tests
}

// maxPooled is the most the pool keeps, in bytes.
const maxPooled = DefaultMaxResponseBytes

var pool = newBlockPool()

func newBlockPool() *blockPool {
	p := &blockPool{}
	p.watchCollections()
	return p
}

// get returns a block, a pooled one when there is one.
func (p *blockPool) get() *block {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, list := range []*[]*block{&p.fresh, &p.victim} {
		if n := len(*list); n > 0 {
			b := (*list)[n-1]
			(*list)[n-1] = nil
			*list = (*list)[:n-1]
			return b
		}
	}
	return new(block)
}

// put takes back blocks while the pool holds less than limit bytes.
func (p *blockPool) put(list []*block, limit int64) {
	if len(list) == 0 {
		return
	}
	keep := int(min(limit, maxPooled) / bodyBlock)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range list {
		if len(p.fresh)+len(p.victim) >= keep {
			return
		}
		p.fresh = append(p.fresh, b)
	}
}

// age runs after each collection: the blocks not taken since the last one
// are dropped, the others are kept one more cycle.
func (p *blockPool) age() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.victim)
	p.victim, p.fresh = p.fresh, p.victim[:0]
	p.cycles++
}

// pooled returns how many bytes the pool keeps, and how many collections
// it has seen.
func (p *blockPool) pooled() (int64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(len(p.fresh)+len(p.victim)) * bodyBlock, p.cycles
}

// watchCollections calls age after every garbage collection: a sentinel
// object's cleanup runs once a collection finds it unreachable, and arms
// the next sentinel.
func (p *blockPool) watchCollections() {
	sentinel := new([64]byte) // not a tiny object: those are freed late
	runtime.AddCleanup(sentinel, func(p *blockPool) {
		p.age()
		p.watchCollections()
	}, p)
}
