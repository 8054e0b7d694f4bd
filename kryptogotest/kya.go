package kryptogotest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// SetSanctionedAddresses adds addresses that KYA reports as sanctions-list
// matches (compared case-insensitively), like WithSanctionedAddresses.
func (s *Server) SetSanctionedAddresses(addresses ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.addSanctioned(addresses)
}

// SetSanctioned adds addresses that KYA reports as sanctions-list matches.
//
// Deprecated: use SetSanctionedAddresses, the pair of WithSanctionedAddresses.
func (s *Server) SetSanctioned(addresses ...string) { s.SetSanctionedAddresses(addresses...) }

func (s *Server) createKYA(r *http.Request) (int, any) {
	var req struct {
		Address string `json:"address"`
		Chain   string `json:"chain"`
	}
	if err := decode(r, &req); err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if strings.TrimSpace(req.Address) == "" {
		return missing{"address"}.answer()
	}
	chain := strings.ToLower(req.Chain)
	if chain == "" {
		detected, ok := kryptogo.DetectChain(req.Address)
		if !ok {
			return apiError(http.StatusBadRequest, "cannot detect the chain of the address")
		}
		chain = string(detected)
	}
	if chain != string(kryptogo.ChainETH) && chain != string(kryptogo.ChainBTC) {
		return apiError(http.StatusBadRequest, "chain %q is not supported (btc, eth)", req.Chain)
	}
	return s.change(func(st *store, now kryptogo.Timestamp) (int, any, effects) {
		res := st.kyaResult(req.Address, chain, now)
		st.kya[res.KYAID] = res
		return http.StatusOK, kyaWire{res}, effects{}
	})
}

// kyaResult builds a result whose content depends only on the address: the
// same address always yields the same lists.
func (st *store) kyaResult(address, chain string, now kryptogo.Timestamp) *kryptogo.KYAResult {
	if chain == string(kryptogo.ChainETH) {
		address = strings.ToLower(address) // the API answers eth addresses in lower case
	}
	sum := sha256.Sum256([]byte(address))
	var txs []map[string]any
	for i := 0; i < int(sum[0]%5); i++ {
		h := sha256.Sum256(append(sum[:], byte(i)))
		txs = append(txs, map[string]any{"hash": "0x" + hex.EncodeToString(h[:]), "chain": chain})
	}
	var sdn []map[string]any
	if st.sanctioned[strings.ToLower(address)] {
		sdn = append(sdn, map[string]any{"address": address, "list": "SDN", "source": "kryptogotest"})
	}
	id := st.nextKYA
	st.nextKYA++
	return &kryptogo.KYAResult{
		KYAID:             id,
		Address:           address,
		Data:              json.RawMessage(`{}`),
		SDNList:           mustJSON(nonNil(sdn)),
		TxList:            mustJSON(nonNil(txs)),
		CreationTimestamp: now,
		CreatorAccount:    "kryptogotest@example.com",
		CreatorEmail:      "kryptogotest@example.com",
		CreatorName:       "kryptogotest",
	}
}

// kyaWire encodes a KYA result as the API does: customer_reference is null,
// as in the reference's samples (a KYA request cannot set one).
type kyaWire struct{ res *kryptogo.KYAResult }

// MarshalJSON encodes the result with a null customer_reference.
func (k kyaWire) MarshalJSON() ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mustJSON(k.res), &fields); err != nil {
		return nil, err
	}
	fields["customer_reference"] = json.RawMessage("null")
	return json.Marshal(fields)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kryptogotest: %v", err))
	}
	return b
}

func (s *Server) getKYA(r *http.Request) (int, any) {
	id, _ := pathID(r)
	return s.view(func(st *store) (int, any) {
		res, ok := st.kya[id]
		if !ok {
			return apiError(http.StatusNotFound, "KYA task %s not found", r.PathValue("id"))
		}
		return http.StatusOK, kyaWire{res}
	})
}
