// Package bench compares the SDK with the other ways a Go program can call
// the KryptoGO Compliance API, side by side against one loopback server:
// hand-written net/http code, clients generated from openapi.yaml by
// oapi-codegen (oapigen) and by ogen (ogengen), and the physical limit of
// reading an answer without decoding it. See README.md and scripts/bench.sh
// at the repository's root.
package bench

// The generated clients are committed; these commands regenerate them
// (go generate ./... in this directory):
//
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -generate types,client -package oapigen -o oapigen/oapigen.gen.go openapi.yaml
//go:generate go run github.com/ogen-go/ogen/cmd/ogen@v1.24.0 --config ogen.yml --target ogengen --package ogengen --clean openapi.yaml
