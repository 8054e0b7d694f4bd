package kryptogo_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
)

// lostRenewals is a store that fails every claim of a token after its
// first: the holder's renewals fail (the store unreachable from its
// process), so its lease runs out while it still runs.
type lostRenewals struct {
	*kryptogo.MemoryStore
	mu   sync.Mutex
	seen map[string]bool
}

func (s *lostRenewals) Claim(ctx context.Context, key, token, fp string, lease time.Duration) (kryptogo.KeyRecord, bool, error) {
	s.mu.Lock()
	renewal := s.seen[token]
	s.seen[token] = true
	s.mu.Unlock()
	if renewal {
		return kryptogo.KeyRecord{}, false, errors.New("store unreachable")
	}
	return s.MemoryStore.Claim(ctx, key, token, fp, lease)
}

// A holder whose lease runs out while its POST is still on its way (its
// renewals failed) must not have that POST create anything once another
// caller may hold the key: the other takes the key over in doubt, finds
// nothing, and sends. So a send is cut at the end of the lease its holder
// last confirmed: of the two, at most one creates.
func TestKeySendIsCutWhenItsLeaseRunsOut(t *testing.T) {
	t.Parallel()
	for _, kind := range keyedKinds() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			srv := kryptogotest.NewTestServer(t, kryptogotest.WithManualCompletion())
			shared := kryptogo.NewMemoryStore()
			arrived := slowFirstPOST(srv, time.Second) // the holder's POST
			holder := srv.Client(kryptogo.WithIdempotencyStore(&lostRenewals{MemoryStore: shared, seen: map[string]bool{}}))
			kryptogo.SetKeyLease(holder, 150*time.Millisecond)
			other := srv.Client(kryptogo.WithIdempotencyStore(shared), kryptogo.WithReconcileWait(50*time.Millisecond),
				kryptogo.WithPollInterval(5*time.Millisecond, 10*time.Millisecond))
			held := make(chan error, 1)
			go func() {
				_, _, err := kind.create(testCtx(t), holder, "order-1", 0)
				held <- err
			}()
			<-arrived
			id, _, err := kind.create(testCtx(t), other, "order-1", 0)
			holderErr := <-held
			time.Sleep(1200 * time.Millisecond) // past the holder's slow POST
			created := len(srv.Tasks()) + len(srv.KYAResults()) + len(srv.IDVTasks())
			assert.LessOrEqual(t, created, 1, "at most one create for the key")
			require.ErrorIs(t, holderErr, kryptogo.ErrMaybeSent, "the holder's send was cut: it may have reached the API")
			if kind.canLookUp {
				require.NoError(t, err, "the other caller looked the task up, found none, and sent it")
				assert.Len(t, srv.Tasks(), 1)
				again, _, err := kind.create(testCtx(t), holder, "order-1", 0)
				require.NoError(t, err)
				assert.Equal(t, id, again, "the holder, called again, gets the key's task")
			} else {
				require.ErrorIs(t, err, kryptogo.ErrMaybeSent, "nothing can be looked up: the key stays in doubt")
			}
		})
	}
}

// slowFirstPOST makes the fake's first POST wait delay before it is
// handled (the fake creates nothing for a request whose client left), and
// returns a channel closed when that POST arrives.
func slowFirstPOST(srv *kryptogotest.Server, delay time.Duration) <-chan struct{} {
	arrived := make(chan struct{})
	var once sync.Once
	srv.SetFaultFunc(func(r kryptogotest.Request) kryptogotest.Fault {
		if r.Method != http.MethodPost {
			return kryptogotest.Fault{}
		}
		first := false
		once.Do(func() { first = true; close(arrived) })
		if first {
			return kryptogotest.Fault{Delay: delay}
		}
		return kryptogotest.Fault{}
	})
	return arrived
}
