"""Import every table module so `Base.metadata` knows the whole schema."""

from __future__ import annotations


def import_all_models() -> None:
    """Register all domains' tables on `Base.metadata` (used by Alembic and tests)."""
    from dockyard.access import models as _access  # noqa: F401
    from dockyard.alerts import models as _alerts  # noqa: F401
    from dockyard.artifacts import models as _artifacts  # noqa: F401
    from dockyard.audit import models as _audit  # noqa: F401
    from dockyard.auth import models as _auth  # noqa: F401
    from dockyard.config import models as _config  # noqa: F401
    from dockyard.health import models as _health  # noqa: F401
    from dockyard.hosts import models as _hosts  # noqa: F401
    from dockyard.images import models as _images  # noqa: F401
    from dockyard.jobs import models as _jobs  # noqa: F401
    from dockyard.mcp_registry import models as _mcp_registry  # noqa: F401
    from dockyard.metrics import models as _metrics  # noqa: F401
    from dockyard.nodes import models as _nodes  # noqa: F401
    from dockyard.placement import models as _placement  # noqa: F401
    from dockyard.quotas import models as _quotas  # noqa: F401
    from dockyard.registries import models as _registries  # noqa: F401
    from dockyard.schedules import models as _schedules  # noqa: F401
    from dockyard.services import models as _services  # noqa: F401
    from dockyard.ssh import models as _ssh  # noqa: F401
    from dockyard.system import models as _system  # noqa: F401
    from dockyard.templates import models as _templates  # noqa: F401
    from dockyard.tokens import models as _tokens  # noqa: F401
    from dockyard.updates import models as _updates  # noqa: F401
    from dockyard.users import models as _users  # noqa: F401
