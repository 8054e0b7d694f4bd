package kryptogo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/check"
)

// KYAService screens blockchain addresses.
type KYAService service

// CreateKYARequest asks for the analysis of one address.
type CreateKYARequest struct {
	Address        string `json:"address"`         // required
	Chain          Chain  `json:"chain,omitempty"` // empty: DetectChain's; another than eth and btc is sent unchecked
	IdempotencyKey string `json:"-"`               // at most once per key (package doc)
}

func (r CreateKYARequest) view() redactedView {
	return view("CreateKYARequest", slog.String("address", r.Address), slog.String("chain", string(r.Chain)))
}

// Format prints the address and chain, never the idempotency key.
func (r CreateKYARequest) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the address and chain, never the idempotency key.
func (r CreateKYARequest) LogValue() slog.Value { return r.view().logValue() }

// KYAResult is the analysis of an address. It prints as its id.
type KYAResult struct {
	rawResponse
	KYAID             ID              `json:"kya_id"`
	Address           string          `json:"address"`
	Data              json.RawMessage `json:"data,omitempty"`
	SDNList           json.RawMessage `json:"sdnlist,omitempty"` // sanctions-list (OFAC SDN) entries matching the address
	TxList            json.RawMessage `json:"txlist,omitempty"`  // the address's transactions
	CreationTimestamp Timestamp       `json:"creation_timestamp"`
	CreatorAccount    string          `json:"creator_account"`
	CreatorEmail      string          `json:"creator_email"`
	CreatorName       string          `json:"creator_name"`
	CustomerReference string          `json:"customer_reference"` // null decodes as ""
}

// kyaResultRaw are the members of a KYA result kept as raw JSON, in the
// order of setRawMember (decodeCut).
var kyaResultRaw = []string{"data", "sdnlist", "txlist"}

func (r *KYAResult) rawMemberNames() []string { return kyaResultRaw }

func (r *KYAResult) setRawMember(n int, raw json.RawMessage) {
	switch n {
	case 0:
		r.Data = raw
	case 1:
		r.SDNList = raw
	case 2:
		r.TxList = raw
	}
}

func (r KYAResult) view() redactedView {
	return view("KYAResult", idAttr("kya_id", r.KYAID))
}

// Format prints the redacted form for every verb.
func (r KYAResult) Format(f fmt.State, verb rune) { r.view().format(f, verb) }

// LogValue logs the redacted form.
func (r KYAResult) LogValue() slog.Value { return r.view().logValue() }

// SDNEntries returns the entries of SDNList, or nil when it is not an array.
func (r *KYAResult) SDNEntries() []json.RawMessage { return rawArray(r.SDNList) }

// SDNCount returns how many sanctions-list entries match the address.
func (r *KYAResult) SDNCount() int { return len(r.SDNEntries()) }

// TxEntries returns the entries of TxList, or nil when it is not an array.
func (r *KYAResult) TxEntries() []json.RawMessage { return rawArray(r.TxList) }

// TxCount returns how many transactions the result lists.
func (r *KYAResult) TxCount() int { return len(r.TxEntries()) }

// ConsoleURL returns the page of the result in the KryptoGO web console.
func (r *KYAResult) ConsoleURL() string {
	return "https://app.kryptogo.com/compliance/addresses/" + r.KYAID.String()
}

func rawArray(raw json.RawMessage) []json.RawMessage {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil
	}
	return items
}

// DetectChain returns the chain of an address by its form: 0x and 40 hex
// digits is eth; base58 from 1 or 3, or bech32 from bc1, is btc.
func DetectChain(address string) (Chain, bool) {
	address = strings.TrimSpace(address)
	switch {
	case check.IsETHAddress(address):
		return ChainETH, true
	case check.IsBTCAddress(address):
		return ChainBTC, true
	}
	return "", false
}

// defaults fills in the chain detected from the address when none is given.
func (r *CreateKYARequest) defaults() {
	if r.Chain == "" {
		r.Chain, _ = DetectChain(r.Address)
	}
}

// validate checks the address, and that it belongs to the chain when the
// chain is one the SDK knows.
func (r *CreateKYARequest) validate(v *validator) {
	validateIdempotencyKey(v, r.IdempotencyKey)
	if !v.required("address", r.Address) {
		return
	}
	if strings.TrimSpace(r.Address) != r.Address {
		v.add("address", "has surrounding white space")
		return
	}
	switch {
	case r.Chain == "":
		v.add("chain", "cannot be detected from the address: it is neither an eth (0x + 40 hex) nor a btc address; set chain")
	case strings.EqualFold(string(r.Chain), string(ChainETH)):
		if !check.IsETHAddress(r.Address) {
			v.add("address", "is not an eth address (0x followed by 40 hex digits)")
		}
	case strings.EqualFold(string(r.Chain), string(ChainBTC)):
		if !check.IsBTCAddress(r.Address) {
			v.add("address", "is not a mainnet btc address (1…, 3… or bc1…)")
		}
	}
}

// personalValues is empty: a blockchain address is not personal data.
func (r CreateKYARequest) personalValues() []string { return nil }

// Create analyses an address: POST /kya.
func (s *KYAService) Create(ctx context.Context, req *CreateKYARequest, opts ...Option) (*KYAResult, error) {
	valid, err := prepare(req)
	if err != nil {
		return nil, s.client.refuse(ctx, &opKYACreate, opts, err)
	}
	return s.create(ctx, &opKYACreate, valid, opts)
}

// create sends a request that was validated and given its defaults: the
// one send of Create and Screen (op), which validate each request only
// once. A request with an idempotency key goes through its key
// (createKeyed).
func (s *KYAService) create(ctx context.Context, op *Operation, valid *CreateKYARequest, opts []Option) (*KYAResult, error) {
	if valid.IdempotencyKey == "" {
		return sendJSON[KYAResult](ctx, s.client, op, "/kya", valid, opts)
	}
	const name = "POST /kya"
	cfg, err := s.client.config(opts)
	if err != nil {
		return nil, err
	}
	fingerprint, err := s.client.jsonFingerprint(name, valid)
	if err != nil {
		return nil, err
	}
	opts = withKeyMasked(opts, valid.IdempotencyKey)
	key := keyedRequest{key: valid.IdempotencyKey, fingerprint: fingerprint, field: "idempotency_key"}
	return createKeyed(ctx, s.client, cfg, name, resolveKYA, key, func(ctx context.Context) (*KYAResult, error) {
		return sendJSON[KYAResult](ctx, s.client, op, "/kya", valid, opts)
	})
}

// Get fetches a KYA result: GET /kya/detail/{kya_id}.
func (s *KYAService) Get(ctx context.Context, id ID, opts ...Option) (*KYAResult, error) {
	return getByID[KYAResult](ctx, s.client, &opKYAGet, id, opts)
}
