package kryptogotest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	kryptogo "github.com/kyabc/kryptogo-go"
)

// addKYA analyses an address and stores the result.
func (st *store) addKYA(address, chain string, now kryptogo.Timestamp) *kryptogo.KYAResult {
	res := st.kyaResult(address, chain, now)
	st.kyaResults[res.KYAID] = res
	return res
}

// kya returns the KYA result of the id.
func (st *store) kya(id kryptogo.ID) (*kryptogo.KYAResult, error) {
	res, ok := st.kyaResults[id]
	if !ok {
		return nil, refuse(errNotFound, "KYA task %d not found", id)
	}
	return res, nil
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
		hash := hex.EncodeToString(h[:])
		if chain == string(kryptogo.ChainETH) {
			hash = "0x" + hash // ethereum writes hashes with 0x; bitcoin does not
		}
		txs = append(txs, map[string]any{"hash": hash, "chain": chain, InventedKey: true})
	}
	var sdn []map[string]any
	if st.sanctioned[strings.ToLower(address)] {
		sdn = append(sdn, map[string]any{"address": address, "list": "SDN", InventedKey: true})
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
