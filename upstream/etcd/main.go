// Command etcd is etcd's own entry point: go.etcd.io/etcd/v3's main.go calls etcdmain.Main with the
// process arguments, and the server module has no main package of its own. Its version is the
// go.etcd.io/etcd/server/v3 that k8s.io/kubernetes requires (v3.6.8 for v1.36.1, the same as
// kubeadm's DefaultEtcdVersion in cmd/kubeadm/app/constants/constants.go).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
