package kryptogo_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/internal/everyendpoint"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routePattern matches the paths a route template stands for.
func routePattern(route string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(route), `[0-9]+`) + "$")
}

func TestEveryEndpointReportsItsOperationAndRoute(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	log := &kryptogo.ObsLog{}
	_, err := everyendpoint.Call(testCtx(t), srv, srv.Client(kryptogo.WithObserver(log.Observer())))
	require.NoError(t, err)

	attempts := log.Infos("AttemptStart")
	requests := srv.Requests()
	require.Len(t, attempts, len(requests), "one attempt per request the fake received")
	names := map[string]bool{}
	for i, a := range attempts {
		op, req := a.(kryptogo.AttemptStartInfo).Operation, requests[i]
		names[op.Name] = true
		assert.Equal(t, req.Method, op.Method, "%s: method", op.Name)
		if op.Name == "Do" {
			assert.Empty(t, op.Route, "Do cannot tell the ids in a raw path")
			continue
		}
		assert.Regexp(t, routePattern(op.Route), req.Path, "%s: the route template is the path without its ids", op.Name)
	}
	for _, name := range everyendpoint.Operations {
		assert.True(t, names[name], "no call of %s was observed", name)
	}
	starts, dones := log.Infos("CallStart"), log.Infos("CallDone")
	assert.Len(t, dones, len(starts), "every call started is done")
	refused := 0
	for _, d := range dones {
		if d.(kryptogo.CallDoneInfo).Attempts == 0 {
			refused++
		}
	}
	assert.Equal(t, 2, refused, "the invalid screening and the invalid task were calls too")
}

func TestObserverIsNeverToldAPersonalValueOrAPathWithAnID(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	log := &kryptogo.ObsLog{}
	_, err := everyendpoint.Call(testCtx(t), srv, srv.Client(kryptogo.WithObserver(log.Observer())))
	require.NoError(t, err)

	everything := fmt.Sprintf("%+v", log.Events())
	require.Contains(t, everything, "Tasks.Create", "the log holds the calls")
	require.Contains(t, everything, "Reconcile", "and the reconciliation")
	for _, secret := range []string{srv.APIKey, everyendpoint.Name, "Roe", everyendpoint.Birthday, "19850131", everyendpoint.IDNumber, everyendpoint.Customer} {
		assert.NotContains(t, everything, secret)
	}
	assert.NotRegexp(t, `/(task|idv|kya/detail)/[0-9]`, everything, "no raw path with an id")
	assert.False(t, strings.Contains(everything, "?"), "no query")
}

func TestReconciliationIsObserved(t *testing.T) {
	t.Parallel()
	once := kryptogo.Operation{Name: "Tasks.CreateOnce", Route: "/task", Method: http.MethodPost}
	for _, tc := range []struct {
		name  string
		fault func(srv *kryptogotest.Server)
		want  kryptogo.ReconcileInfo
	}{
		{"created: found", func(srv *kryptogotest.Server) { srv.DropNextResponse(http.MethodPost, "/task", 1) },
			kryptogo.ReconcileInfo{Operation: once, Requests: 2, Found: 2, Outcome: kryptogo.ReconcileFound}},
		{"not created: absent", func(srv *kryptogotest.Server) { srv.DropNextRequest(http.MethodPost, "/task", 1) },
			kryptogo.ReconcileInfo{Operation: once, Requests: 2, Found: 0, Outcome: kryptogo.ReconcileAbsent}},
		{"lookup failed: unknown", func(srv *kryptogotest.Server) {
			srv.DropNextResponse(http.MethodPost, "/task", 1)
			srv.FailNextOn("/tasks", 100, http.StatusUnauthorized)
		}, kryptogo.ReconcileInfo{Operation: once, Requests: 2, Found: 0, Outcome: kryptogo.ReconcileUnknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newOnceRig(t)
			tc.fault(r.srv)
			log := &kryptogo.ObsLog{}
			_, _ = r.client.Tasks.CreateOnce(testCtx(t), []kryptogo.CreateTaskRequest{kycTask("c1", "Jane Roe"), kybTask("c2", "Acme Ltd.")},
				kryptogo.WithObserver(log.Observer()))
			got := log.Infos("Reconcile")
			require.NotEmpty(t, got)
			first := got[0].(kryptogo.ReconcileInfo)
			first.Duration = 0
			assert.Equal(t, tc.want, first)
		})
	}
}

func TestObserverContextsAreTheCallersWhenStartsReturnThem(t *testing.T) {
	t.Parallel()
	type key struct{}
	srv := kryptogotest.NewTestServer(t)
	ctx, cancel := context.WithCancel(context.WithValue(testCtx(t), key{}, "caller"))
	var seen []any
	client := srv.Client(kryptogo.WithObserver(&kryptogo.Observer{
		CallStart: func(ctx context.Context, _ kryptogo.CallStartInfo) context.Context {
			seen = append(seen, ctx.Value(key{}))
			cancel() // the caller gives up: the call must see it through the hook's context
			return ctx
		},
	}))
	_, err := client.Tasks.Summary(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []any{"caller"}, seen)
	assert.Empty(t, srv.Requests(), "nothing sent after the caller gave up")
}
