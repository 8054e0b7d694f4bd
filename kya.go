package kryptogo

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/kyabc/kryptogo-go/internal/check"
)

// KYAService screens blockchain addresses ("know your address"): the API
// reports the address's matches on sanctions lists and its transactions.
type KYAService service

// CreateKYARequest asks for the analysis of one address.
type CreateKYARequest struct {
	// Address is the blockchain address to analyse. Required.
	Address string `json:"address"`
	// Chain is the address's chain. Left empty, the SDK detects it from the
	// address (0x and 40 hex digits: eth; 1…, 3… or bc1…: btc) and sends it.
	// A chain other than eth and btc is sent unchecked, since the API may add
	// chains before the SDK knows them.
	Chain Chain `json:"chain,omitempty"`
}

// KYAResult is the analysis of an address.
//
// The API documents no shape for data, sdnlist and txlist, and gives no risk
// score for an address; they are kept as raw JSON. SDNCount and TxCount count
// their entries.
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

// UnmarshalJSON decodes the result and keeps the JSON for RawJSON.
func (r *KYAResult) UnmarshalJSON(data []byte) error {
	type plain KYAResult
	return decodeKeepingRaw(data, (*plain)(r), &r.rawResponse)
}

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

// DetectChain returns the chain an address belongs to, judged by its form:
// 0x and 40 hex digits is eth; a base58 address starting 1 or 3, or a bech32
// address starting bc1, is btc. It reports false for any other form.
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

// validate checks the request and returns the body to send, with the chain
// filled in when it was detected.
func (r *CreateKYARequest) validate() (CreateKYARequest, error) {
	var v validator
	if r == nil {
		v.add("request", "is required")
		return CreateKYARequest{}, v.err()
	}
	out := *r
	if !v.required("address", r.Address) {
		return out, v.err()
	}
	if strings.TrimSpace(r.Address) != r.Address {
		v.add("address", "has surrounding white space")
	}
	switch {
	case r.Chain == "":
		chain, ok := DetectChain(r.Address)
		if !ok {
			v.add("chain", "cannot be detected from the address: it is neither an eth (0x + 40 hex) nor a btc address; set chain")
		}
		out.Chain = chain
	case strings.EqualFold(string(r.Chain), string(ChainETH)):
		if !check.IsETHAddress(r.Address) {
			v.add("address", "is not an eth address (0x followed by 40 hex digits)")
		}
	case strings.EqualFold(string(r.Chain), string(ChainBTC)):
		if !check.IsBTCAddress(r.Address) {
			v.add("address", "is not a mainnet btc address (1…, 3… or bc1…)")
		}
	}
	return out, v.err()
}

// Create analyses an address and returns the latest result with its kya_id.
// The chain is detected from the address when not given.
//
// API: POST /kya
func (s *KYAService) Create(ctx context.Context, req *CreateKYARequest) (*KYAResult, error) {
	body, err := req.validate()
	if err != nil {
		return nil, err
	}
	var out KYAResult
	if err := s.client.sendJSON(ctx, http.MethodPost, "/kya", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get fetches a KYA result by its kya_id.
//
// API: GET /kya/detail/{kya_id}
func (s *KYAService) Get(ctx context.Context, id ID) (*KYAResult, error) {
	if err := validateID("kya_id", id); err != nil {
		return nil, err
	}
	var out KYAResult
	if err := s.client.get(ctx, "/kya/detail/"+id.String(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
