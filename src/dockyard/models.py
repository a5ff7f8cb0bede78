"""Import every table module so `Base.metadata` knows the whole schema."""

from __future__ import annotations


def import_all_models() -> None:
    """Register all domains' tables on `Base.metadata` (used by Alembic and tests)."""
    from dockyard.audit import models as _audit  # noqa: F401
    from dockyard.auth import models as _auth  # noqa: F401
    from dockyard.jobs import models as _jobs  # noqa: F401
    from dockyard.nodes import models as _nodes  # noqa: F401
    from dockyard.services import models as _services  # noqa: F401
    from dockyard.system import models as _system  # noqa: F401
    from dockyard.users import models as _users  # noqa: F401
