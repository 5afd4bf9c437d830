"""The simulator's opt-in kernel data plane: its cluster network as Linux network namespaces.

``netns`` (namespaces, setns(2) on a short-lived thread), ``topology`` (bridge, nodes, pods, routes),
``listeners`` (the modelled processes' sockets), ``client`` (a request's client side), ``conntrack``
(``conntrack -L`` as rows), ``host`` (the host namespace's state, for tests), ``dataplane`` (the
shell the Cluster, kube-proxy and traffic call).
"""
