"""A namespace's identity is a value: built by its constructors, checked on construction,
rendered one way (``label``, ``str``) and read back by ``on``/``parse``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlaynet.dataplane.ir import Dataplane, NsKind, NsRef
from overlaynet.model import Pod

names = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
refs = st.one_of(
    st.builds(NsRef.root, names),
    st.builds(lambda h, ns, p: NsRef.pod(h, f"{ns}/{p}"), names, names, names),
    st.builds(NsRef.network, names, names.filter(lambda n: n != "root")),
)


@given(refs)
def test_str_and_label_read_back_to_the_same_value(ref: NsRef) -> None:
    assert NsRef.parse(str(ref)) == ref
    assert NsRef.on(ref.host, ref.label) == ref


def test_constructors_and_what_they_say() -> None:
    pod = NsRef.pod("node-1", "default/web-0")
    assert (pod.kind, pod.pod_key, pod.label, str(pod)) == (NsKind.POD, "default/web-0", "pod:default/web-0", "node-1/pod:default/web-0")
    root = NsRef.root("node-1")
    assert root == NsRef("node-1") and root.is_root and root.pod_key is None and (root.label, str(root)) == ("root", "node-1")
    net = NsRef.network("node-2", "1-abc")
    assert (net.kind, net.label, str(net), net.pod_key) == (NsKind.NETWORK, "1-abc", "node-2/1-abc", None)
    assert NsRef("h", "pod", "a/b") == NsRef.pod("h", "a/b")  # the kind given as its word is the enum
    assert len({NsRef.pod("h", "a/b"), NsRef.pod("h", "a/b"), NsRef.root("h")}) == 2


def test_of_pod_follows_the_pods_node_and_host_network() -> None:
    assert NsRef.of_pod(Pod("web-0", node="node-1")) == NsRef.pod("node-1", "default/web-0")
    assert NsRef.of_pod(Pod("agent", node="node-1", host_network=True)) == NsRef.root("node-1")
    with pytest.raises(ValueError, match="default/lost is not scheduled"):
        NsRef.of_pod(Pod("lost"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NsRef(""), "expected a node or router name"),
        (lambda: NsRef("a/b"), "expected a node or router name"),
        (lambda: NsRef("h", NsKind.ROOT, "x"), "a root namespace has no name"),
        (lambda: NsRef.pod("h", "web-0"), "expected <namespace>/<pod>"),
        (lambda: NsRef.pod("h", "a/b/c"), "expected <namespace>/<pod>"),
        (lambda: NsRef.network("h", "pod:a/b"), "not 'root' or 'pod:...'"),
        (lambda: NsRef("h", "pod:default/a"), "is not a valid NsKind"),  # the old string convention
    ],
)
def test_bad_identities_are_refused_on_construction(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_the_dataplane_is_keyed_by_the_value() -> None:
    dp = Dataplane()
    dp.built_hosts.add("h")
    ns = dp.add_namespace(NsRef.pod("h", "default/a"), kind="pod")
    assert dp.namespace(NsRef.parse("h/pod:default/a")) is ns
    with pytest.raises(ValueError, match="exists"):
        dp.add_namespace(NsRef.pod("h", "default/a"))


def test_docstring_examples_run() -> None:
    import doctest

    import overlaynet.dataplane.ir as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
