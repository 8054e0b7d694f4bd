package kryptogo

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func wantKYAResult() *KYAResult {
	return &KYAResult{
		KYAID:             12,
		Address:           "0x72a5843cc08275c8171e582972aa4fda8c397b2a",
		Data:              json.RawMessage(`{}`),
		SDNList:           json.RawMessage(`[]`),
		TxList:            json.RawMessage(`[]`),
		CreationTimestamp: ts(1698661028),
		CreatorAccount:    "eric.hung@kryptogo.com",
		CreatorEmail:      "eric.hung@kryptogo.com",
		CreatorName:       "Eric Hung",
	}
}

func TestKYACreate(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
		assertRequest(t, r, http.MethodPost, "/kya")
		assert.Empty(t, r.URL.RawQuery)
		assertJSONBody(t, r, string(fixture(t, "kya_create_request.json")))
		serveFixture(t, "kya_result.json")(w)
	})
	got, err := client.KYA.Create(t.Context(), &CreateKYARequest{
		Address: "0x72a5843cc08275C8171E582972Aa4fDa8C397B2A", Chain: ChainETH,
	})
	require.NoError(t, err)
	assertDecoded(t, wantKYAResult(), got)
	assertRaw(t, fixture(t, "kya_result.json"), got)
	assert.Equal(t, 0, got.SDNCount())
	assert.Equal(t, 0, got.TxCount())
	assert.Equal(t, "https://app.kryptogo.com/compliance/addresses/12", got.ConsoleURL())
}

func TestKYACreateDetectsChain(t *testing.T) {
	t.Parallel()
	for addr, chain := range map[string]string{
		"0x72a5843cc08275C8171E582972Aa4fDa8C397B2A": "eth",
		"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa":         "btc",
		"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy":         "btc",
		"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq": "btc",
	} {
		t.Run(addr, func(t *testing.T) {
			client, mux := setup(t)
			mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
				assertRequest(t, r, http.MethodPost, "/kya")
				assertJSONBody(t, r, `{"address":"`+addr+`","chain":"`+chain+`"}`)
				serveFixture(t, "kya_result.json")(w)
			})
			req := &CreateKYARequest{Address: addr}
			_, err := client.KYA.Create(t.Context(), req)
			require.NoError(t, err, addr)
			assert.Empty(t, req.Chain, "the caller's request is not modified")
		})
	}
}

func TestKYACreateUnknownChainPassesThrough(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	mux.HandleFunc("/kya", func(w http.ResponseWriter, r *http.Request) {
		assertJSONBody(t, r, `{"address":"TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE","chain":"tron"}`)
		serveFixture(t, "kya_result.json")(w)
	})
	_, err := client.KYA.Create(t.Context(), &CreateKYARequest{Address: "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE", Chain: "tron"})
	require.NoError(t, err)
}

func TestKYAGet(t *testing.T) {
	t.Parallel()
	client, mux := setup(t)
	handleGET(t, mux, "/kya/detail/13", "kya_result_matches.json")
	got, err := client.KYA.Get(t.Context(), 13)
	require.NoError(t, err)
	want := wantKYAResult()
	want.KYAID = 13
	want.Data = json.RawMessage(`{"undocumented": true}`)
	want.SDNList = json.RawMessage(`[{"entry": 1}, {"entry": 2}]`)
	want.TxList = json.RawMessage(`[{"tx": "a"}, {"tx": "b"}, {"tx": "c"}]`)
	want.CustomerReference = "000000123"
	assertDecoded(t, want, got)
	assert.Equal(t, 2, got.SDNCount())
	assert.Equal(t, 3, got.TxCount())
	assert.Equal(t, []json.RawMessage{json.RawMessage(`{"entry": 1}`), json.RawMessage(`{"entry": 2}`)}, got.SDNEntries())

	var extra struct {
		RiskNote string `json:"risk_note"`
	}
	require.NoError(t, json.Unmarshal(got.RawJSON(), &extra))
	assert.Equal(t, "a field the SDK does not know", extra.RiskNote, "undocumented fields stay reachable")
}

func TestKYACountsOfNonArrays(t *testing.T) {
	t.Parallel()
	r := &KYAResult{SDNList: json.RawMessage(`null`), TxList: json.RawMessage(`{"a":1}`)}
	assert.Equal(t, 0, r.SDNCount())
	assert.Equal(t, 0, r.TxCount())
	assert.Nil(t, r.TxEntries())
}

func TestKYAValidation(t *testing.T) {
	t.Parallel()
	client := offlineClient(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		req    *CreateKYARequest
		fields []string
	}{
		{"nil request", nil, []string{"request"}},
		{"no address", &CreateKYARequest{}, []string{"address"}},
		{"blank address", &CreateKYARequest{Address: "   ", Chain: ChainETH}, []string{"address"}},
		{"padded address", &CreateKYARequest{Address: " 0x72a5843cc08275c8171e582972aa4fda8c397b2a"}, []string{"address"}},
		{"undetectable", &CreateKYARequest{Address: "not-an-address"}, []string{"chain"}},
		{"eth mismatch", &CreateKYARequest{Address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Chain: ChainETH}, []string{"address"}},
		{"btc mismatch", &CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2a", Chain: ChainBTC}, []string{"address"}},
		{"short eth", &CreateKYARequest{Address: "0x72a5843cc08275c8171e582972aa4fda8c397b2", Chain: "ETH"}, []string{"address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.KYA.Create(ctx, tc.req)
			assert.Equal(t, tc.fields, fieldsOf(t, err), tc.name)
		})
	}
	_, err := client.KYA.Get(ctx, 0)
	assert.Equal(t, []string{"kya_id"}, fieldsOf(t, err))
	_, err = client.KYA.Get(ctx, -3)
	assert.Equal(t, []string{"kya_id"}, fieldsOf(t, err))
}

func TestDetectChain(t *testing.T) {
	t.Parallel()
	c, ok := DetectChain("0x72a5843cc08275c8171e582972aa4fda8c397b2a")
	assert.True(t, ok)
	assert.Equal(t, ChainETH, c)
	_, ok = DetectChain("hello")
	assert.False(t, ok)
}

func FuzzCreateKYARequest(f *testing.F) {
	f.Add("0x72a5843cc08275C8171E582972Aa4fDa8C397B2A", "")
	f.Add("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "btc")
	f.Add("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "sol")
	f.Add(" ", "\x00")
	f.Fuzz(func(t *testing.T, address, chain string) {
		client, rt := fuzzClient(t)
		_, err := client.KYA.Create(t.Context(), &CreateKYARequest{Address: address, Chain: Chain(chain)})
		requireValidatedOrSent(t, err, rt)
	})
}
