module github.com/kyabc/kryptogo-go

go 1.24

require (
	github.com/google/go-cmp v0.7.0
	github.com/stretchr/testify v1.11.1
	gopkg.in/h2non/gock.v1 v1.1.2
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/h2non/parth v0.0.0-20190131123155-b4df798d6542 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
