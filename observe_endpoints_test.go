package kryptogo_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"regexp"
	"strings"
	"testing"

	kryptogo "github.com/kyabc/kryptogo-go"
	"github.com/kyabc/kryptogo-go/kryptogotest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The personal values every endpoint is driven with below: no hook may
// ever be told one.
const (
	obsName     = "Jane Quincy Roe"
	obsBirthday = "1985-01-31"
	obsIDNumber = "A123456789"
	obsCustomer = "customer-4711"
)

// driveEveryEndpoint calls every service method once, and Do, with
// personal data wherever an endpoint takes it. Each call is sequential, so
// the fake's requests come in the order of the calls' attempts.
func driveEveryEndpoint(t *testing.T, client *kryptogo.Client) {
	t.Helper()
	ctx := testCtx(t)
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 400)), nil))
	img := kryptogo.ImageFromBytes(buf.Bytes())
	kyc := kryptogo.CreateTaskRequest{SearchSettingID: 2, Target: kryptogo.KYCTarget(obsName, obsBirthday, "TWN"), CustomerReference: obsCustomer}

	kya, err := client.KYA.Create(ctx, &kryptogo.CreateKYARequest{Address: "0x1111111111111111111111111111111111111111"})
	require.NoError(t, err)
	_, err = client.KYA.Get(ctx, kya.KYAID)
	require.NoError(t, err)
	for _, r := range client.KYA.Screen(ctx, []kryptogo.CreateKYARequest{{Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}}, nil) {
		require.NoError(t, r.Err)
	}
	created, err := client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{kyc})
	require.NoError(t, err)
	id := created[0].TaskID
	_, err = client.Tasks.CreateOne(ctx, kyc)
	require.NoError(t, err)
	_, err = client.Tasks.CreateOnce(ctx, []kryptogo.CreateTaskRequest{kyc})
	require.NoError(t, err)
	_, err = client.Tasks.Summary(ctx, id)
	require.NoError(t, err)
	_, err = client.Tasks.Get(ctx, id)
	require.NoError(t, err)
	_, err = client.Tasks.Accept(ctx, id, "reviewed "+obsName)
	require.NoError(t, err)
	require.NoError(t, client.Tasks.SetMetadata(ctx, id, []kryptogo.Metadata{{Key: "tier", Value: "gold"}}))
	_, err = client.Tasks.History(ctx, &kryptogo.HistoryOptions{CustomerReference: obsCustomer})
	require.NoError(t, err)
	idv, err := client.IDV.Create(ctx, &kryptogo.CreateIDVRequest{Country: "TWN", IDType: kryptogo.IDTypeIDCard,
		IDImage: img, IDBackImage: img, IDAndFaceImage: img, ExpectedName: obsName, ExpectedBirthday: obsBirthday, ExpectedIDNumber: obsIDNumber})
	require.NoError(t, err)
	_, err = client.IDV.Get(ctx, idv.IDVTaskID)
	require.NoError(t, err)
	_, err = client.IDV.InitWeb(ctx, &kryptogo.InitWebIDVRequest{IDType: kryptogo.IDTypeIDCard, WorkflowID: kryptogo.WorkflowIDAndIdentity,
		Country: "TWN", CustomerReference: obsCustomer, ExpectedName: obsName, ExpectedBirthday: obsBirthday, ExpectedIDNumber: obsIDNumber})
	require.NoError(t, err)
	_, err = client.IDV.InitMobile(ctx, &kryptogo.InitMobileIDVRequest{Country: "TWN", ExpectedName: obsName, ExpectedIDNumber: obsIDNumber})
	require.NoError(t, err)
	require.NoError(t, client.Do(ctx, http.MethodGet, fmt.Sprintf("/task/%d/summary", id), nil, nil))
	// Refused before sending, with the personal values in the request.
	_, err = client.Tasks.Create(ctx, []kryptogo.CreateTaskRequest{{Target: kryptogo.KYCTarget(obsName, obsBirthday, "nowhere")}})
	require.ErrorIs(t, err, kryptogo.ErrInvalidRequest)
}

// routePattern matches the paths a route template stands for.
func routePattern(route string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(route), `[0-9]+`) + "$")
}

func TestEveryEndpointReportsItsOperationAndRoute(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	log := &kryptogo.ObsLog{}
	driveEveryEndpoint(t, srv.Client(kryptogo.WithObserver(log.Observer())))

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
	for _, name := range []string{"KYA.Create", "KYA.Get", "KYA.Screen", "Tasks.Create", "Tasks.CreateOne", "Tasks.CreateOnce",
		"Tasks.Summary", "Tasks.Get", "Tasks.SetAccepted", "Tasks.SetMetadata", "Tasks.History",
		"IDV.Create", "IDV.Get", "IDV.InitWeb", "IDV.InitMobile", "Do"} {
		assert.True(t, names[name], "no call of %s was observed", name)
	}
	starts, dones := log.Infos("CallStart"), log.Infos("CallDone")
	assert.Len(t, dones, len(starts), "every call started is done")
	assert.Len(t, starts, len(requests)+1, "one call per request, and the one refused before sending")
}

func TestObserverIsNeverToldAPersonalValueOrAPathWithAnID(t *testing.T) {
	t.Parallel()
	srv := kryptogotest.NewTestServer(t)
	log := &kryptogo.ObsLog{}
	driveEveryEndpoint(t, srv.Client(kryptogo.WithObserver(log.Observer())))
	// And the answers that echo what was sent.
	srv.FailNextOn("/task", 1, http.StatusBadRequest)
	_, err := srv.Client(kryptogo.WithObserver(log.Observer())).Tasks.Create(testCtx(t), []kryptogo.CreateTaskRequest{
		{SearchSettingID: 2, Target: kryptogo.KYCTarget(obsName, obsBirthday, "TWN")}})
	require.Error(t, err)

	everything := fmt.Sprintf("%+v", log.Events())
	require.Contains(t, everything, "Tasks.Create", "the log holds the calls")
	for _, secret := range []string{srv.APIKey, obsName, "Roe", obsBirthday, "19850131", obsIDNumber, obsCustomer} {
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
