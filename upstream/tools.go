//go:build tools

// Package tools pins the upstream commands `make upstream` builds (scripts/build_upstream.py), so
// `go mod tidy` keeps their whole dependency graph in go.mod and go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
