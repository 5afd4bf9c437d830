"""PatchOptions as a PATCH's query gives them, checked before the body is read (apimachinery v0.37.0
pkg/apis/meta/v1/validation/validation.go ValidatePatchOptions, called by apiserver's
endpoints/handlers/patch.go): an apply needs a field manager, only an apply may force."""

from .errors import invalid
from .validation import forbidden, required

APPLY_TYPES = ("application/apply-patch+yaml", "application/apply-patch+cbor")


def validate(query: dict, patch_type: str) -> None:
    """422 Invalid PatchOptions.meta.k8s.io for options the patch type does not allow."""
    causes = []
    if patch_type in APPLY_TYPES:
        if not query.get("fieldManager"):
            # kubectl defaults it to "kubectl"; controllers must set it
            causes.append(required("fieldManager", "is required for apply patch"))
    elif "force" in query:
        causes.append(forbidden("force", "may not be specified for non-apply patch"))
    if causes:
        raise invalid("PatchOptions", "", "meta.k8s.io", causes)
