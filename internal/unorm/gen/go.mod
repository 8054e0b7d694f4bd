module github.com/kyabc/kryptogo-go/internal/unorm/gen

go 1.26.0

replace github.com/kyabc/kryptogo-go => ../../../

require (
	github.com/kyabc/kryptogo-go v0.0.0-00010101000000-000000000000
	golang.org/x/text v0.44.0
)
