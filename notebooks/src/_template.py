# %% [markdown] slideshow={"slide_type": "slide"}
# # NN · Chapter title
#
# One paragraph: the question this chapter answers, and why a reader should care.
# (This is the chapter template — copy `notebooks/src/_template.py` to `notebooks/src/NN-topic.py`,
# fill it in, and build it with `python scripts/build_notebooks.py`. See docs/CHAPTER-TEMPLATE.md.)

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Speaker notes: what to stress when presenting this slide. Every section gets at least one notes cell.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Learning objectives
#
# After this chapter you can:
# 1. *explain* …
# 2. *find* …
# 3. *predict* …

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## Prerequisites
#
# | Concept | Importance | Notes |
# |---|---|---|
# | [Chapter 00](00-tour-of-a-fresh-cluster.ipynb) | Necessary | how to run a chapter |
# | Kubernetes Services | Helpful | [Service concept page](https://kubernetes.io/docs/concepts/services-networking/service/) |
#
# **Time to complete:** about 10 minutes

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which cluster am I on?
#
# The next cell connects to the project's kind cluster or, when none answers, to the built-in simulator,
# and prints which one it picked. It then creates this chapter's sandbox namespace.
#
# | On kind | On the simulator |
# |---|---|
# | real kubelets, containers and kube-proxy | modelled components, virtual clock; says so in the banner |

# %% slideshow={"slide_type": "-"} tags=["cluster-check"]
import helpers as h

cluster = h.connect()
ns = h.sandbox("chnn")  # your chapter number, e.g. "ch07" (namespace names are lower case)
nodes = h.nodes_table()
assert nodes["ready"].all(), "Not every node is Ready: wait a minute (kind) or restart the simulator."
print(f"{len(nodes)} nodes, all Ready; sandbox namespace: {ns.name}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. First section
#
# Each command is followed by what it shows and why it matters.

# %% slideshow={"slide_type": "-"}
h.apply(h.deployment("hello", replicas=1, readiness_gate=False), h.service("hello"), namespace=ns.name)
h.wait_for_slices(ns.name, "hello", endpoints=1, ready=1)
h.kubectl("get", "endpointslices", "-n", ns.name, "-l", "kubernetes.io/service-name=hello")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What it shows:** … **Why it matters:** …

# %% [markdown] slideshow={"slide_type": "notes"}
# > **Presenter note:** Point at the column that answers the section's question.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 1: scale out
#
# Scale the `hello` Deployment to 2 replicas. Done when its EndpointSlice lists 2 ready endpoints.

# %% slideshow={"slide_type": "-"}
# your turn

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
h.scale("hello", 2, ns.name)
slices = h.wait_for_slices(ns.name, "hello", endpoints=2, ready=2)

# %% slideshow={"slide_type": "-"} tags=["verify"]
ready = h.slices_table(ns.name, service="hello").query("ready == True")
assert len(ready) == 2, (
    f"Found {len(ready)} ready endpoints, expected 2. Hint: h.scale('hello', 2, ns.name), then wait "
    "with h.wait_for_slices(ns.name, 'hello', endpoints=2, ready=2).")
print("✓ The slice lists both pods.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercise 2: label the Service
#
# Give the `hello` Service the label `tier=demo`. Done when its slices carry that label too.

# %% slideshow={"slide_type": "-"}
# your turn

# %% slideshow={"slide_type": "skip"} tags=["solution"] jupyter={"source_hidden": true}
# Solution: expand this cell to compare it with yours.
h.label("svc", "hello", {"tier": "demo"}, ns.name)
found = h.wait_for("endpointslices", lambda slices: all(s["metadata"]["labels"].get("tier") == "demo" for s in slices),
                   namespace=ns.name, selector="kubernetes.io/service-name=hello", what="slices labelled tier=demo")

# %% slideshow={"slide_type": "-"} tags=["verify"]
slices = h.list_objects("endpointslices", ns.name, selector="kubernetes.io/service-name=hello")
assert slices and all(s["metadata"]["labels"].get("tier") == "demo" for s in slices), (
    "The slices do not carry tier=demo yet. Hint: label the Service, not the slice: "
    "h.label('svc', 'hello', {'tier': 'demo'}, ns.name).")
print("✓ The controller copied the Service's label onto its slices.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Cleanup
#
# Delete the sandbox namespace; everything the chapter created lives in it.

# %% slideshow={"slide_type": "-"} tags=["cleanup"]
ns.cleanup()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# - One bullet per learning objective.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What's next
#
# The next chapter, and one or two upstream pointers.
