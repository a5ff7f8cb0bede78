"""Importers, each fed a document in its documented shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.kit.errors import ValidationFailedError
from dockyard.services.compose import parse_definition
from dockyard.services.compose.loader import parse_yaml
from dockyard.templates.importers import (
    DOCKYARD_KIND,
    export_document,
    import_compose,
    import_dockyard,
    import_portainer,
    import_pterodactyl,
)
from dockyard.templates.variables import render, resolve_values

# Portainer app templates v2, as in portainer/templates' templates-2.0.json.
PORTAINER_V2: dict[str, Any] = {
    "version": "2",
    "templates": [
        {
            "type": 1,
            "title": "Registry",
            "name": "registry",
            "description": "Docker image registry",
            "categories": ["docker"],
            "platform": "linux",
            "logo": "https://portainer-io-assets.sfo2.digitaloceanspaces.com/logos/registry.png",
            "image": "registry:latest",
            "ports": ["5000/tcp"],
            "volumes": [{"container": "/var/lib/registry"}],
        },
        {
            "type": 1,
            "title": "MySQL",
            "description": "The most popular open-source database",
            "categories": ["database"],
            "platform": "linux",
            "logo": "https://portainer-io-assets.sfo2.digitaloceanspaces.com/logos/mysql.png",
            "image": "mysql:latest",
            "env": [
                {"name": "MYSQL_ROOT_PASSWORD", "label": "Root password"},
                {
                    "name": "MYSQL_MODE",
                    "label": "Mode",
                    "select": [
                        {"text": "Fast", "value": "fast"},
                        {"text": "Safe", "value": "safe", "default": True},
                    ],
                },
                {"name": "FIXED", "default": "cost$1", "preset": True},
            ],
            "ports": ["3306:3306/tcp"],
            "volumes": [{"container": "/var/lib/mysql", "bind": "/srv/mysql", "readonly": False}],
            "restart_policy": "unless-stopped",
            "note": "Root password is required.",
        },
        {
            "type": 2,
            "title": "Portainer Agent",
            "description": "Manage all the resources in your Swarm cluster",
            "categories": ["portainer"],
            "platform": "linux",
            "repository": {
                "url": "https://github.com/portainer/templates",
                "stackfile": "stacks/portainer-agent/docker-stack.yml",
            },
        },
        {
            "type": 3,
            "title": "Wordpress",
            "description": "Wordpress setup with a MySQL database",
            "categories": ["CMS"],
            "repository": {
                "url": "https://github.com/portainer/templates",
                "stackfile": "stacks/wordpress/docker-compose.yml",
            },
            "env": [{"name": "MYSQL_DATABASE_PASSWORD", "label": "Database root password"}],
        },
    ],
}


def test_portainer_v2_containers_become_templates_and_stacks_are_reported() -> None:
    outcome = import_portainer(json.dumps(PORTAINER_V2))
    assert [t.name for _, t, _ in outcome.templates] == ["Registry", "MySQL"]
    assert [(s["path"], s["title"]) for s in outcome.skipped] == [
        ("templates.2", "Portainer Agent"),
        ("templates.3", "Wordpress"),
    ]
    assert "git repository" in outcome.skipped[0]["reason"]

    registry = outcome.templates[0][1]
    assert registry.category == "docker"
    assert registry.icon
    assert registry.icon.startswith("https://")
    raw = parse_yaml(registry.compose)
    assert raw["services"]["registry"]["ports"] == ["5000/tcp"]
    assert raw["services"]["registry"]["volumes"] == ["data:/var/lib/registry"]
    assert raw["volumes"] == {"data": {}}

    mysql = outcome.templates[1][1]
    by_name = {v.name: v for v in mysql.variables}
    assert set(by_name) == {"MYSQL_ROOT_PASSWORD", "MYSQL_MODE"}  # preset is not a variable
    assert by_name["MYSQL_ROOT_PASSWORD"].type == "secret"
    assert by_name["MYSQL_ROOT_PASSWORD"].required is True
    assert by_name["MYSQL_MODE"].type == "select"
    assert [o.value for o in by_name["MYSQL_MODE"].options] == ["fast", "safe"]
    assert by_name["MYSQL_MODE"].default == "safe"
    assert mysql.documentation == "Root password is required."
    values = resolve_values(mysql.variables, {"MYSQL_ROOT_PASSWORD": "pw"})
    defn = parse_definition(render(mysql.compose, values)).to_json()
    svc = defn["services"]["mysql"]
    assert svc["environment"] == {
        "MYSQL_ROOT_PASSWORD": "pw",
        "MYSQL_MODE": "safe",
        "FIXED": "cost$1",
    }
    assert svc["restart"] == "unless-stopped"


def test_portainer_v3_has_the_same_shape() -> None:
    doc = {
        "version": "3",
        "templates": [
            {
                "id": 1,
                "type": 1,
                "title": "Nginx",
                "description": "High performance web server",
                "categories": ["webserver"],
                "platform": "linux",
                "logo": "https://example.invalid/nginx.png",
                "image": "nginx:latest",
                "ports": ["80/tcp", "443/tcp"],
                "volumes": [{"container": "/etc/nginx"}, {"container": "/usr/share/nginx/html"}],
            }
        ],
    }
    outcome = import_portainer(json.dumps(doc))
    (_, nginx, _) = outcome.templates[0]
    raw = parse_yaml(nginx.compose)
    assert raw["services"]["nginx"]["volumes"] == [
        "data0:/etc/nginx",
        "data1:/usr/share/nginx/html",
    ]
    parse_definition(render(nginx.compose, {}))


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"version": "4", "templates": []}, "version"),
        ({"version": "2", "templates": [{"type": 1, "title": "x"}]}, "templates.0.image"),
        (
            {"version": "2", "templates": [{"type": 1, "title": "x", "image": "a", "ports": [1]}]},
            "templates.0.ports.0",
        ),
        ({"version": "2", "templates": [{"type": 9, "title": "x"}]}, "templates.0.type"),
        (
            {
                "version": "2",
                "templates": [{"type": 1, "title": "x", "image": "a", "env": [{"label": "n"}]}],
            },
            "templates.0.env.0.name",
        ),
    ],
)
def test_portainer_errors_name_the_path(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        import_portainer(json.dumps(doc))
    assert caught.value.details["errors"][0]["path"] == path


# A Pterodactyl egg as exported by the panel (PTDL_v2).
EGG: dict[str, Any] = {
    "_comment": "DO NOT EDIT: FILE GENERATED AUTOMATICALLY BY PTERODACTYL PANEL",
    "meta": {"version": "PTDL_v2", "update_url": None},
    "exported_at": "2024-05-01T12:00:00+00:00",
    "name": "Paper",
    "author": "parker@pterodactyl.io",
    "description": "High performance Spigot fork.",
    "features": ["eula", "java_version", "pid_limit"],
    "docker_images": {
        "Java 21": "ghcr.io/pterodactyl/yolks:java_21",
        "Java 17": "ghcr.io/pterodactyl/yolks:java_17",
    },
    "file_denylist": [],
    "startup": "java -Xms128M -Xmx{{SERVER_MEMORY}}M -jar {{SERVER_JARFILE}}",
    "config": {
        "files": '{"server.properties": {"parser": "properties"}}',
        "startup": '{"done": ")! For help, type "}',
        "logs": "{}",
        "stop": "stop",
    },
    "scripts": {
        "installation": {
            "script": "#!/bin/ash\necho hi",
            "container": "alpine",
            "entrypoint": "ash",
        }
    },
    "variables": [
        {
            "name": "Minecraft Version",
            "description": "The version of minecraft to download.",
            "env_variable": "MINECRAFT_VERSION",
            "default_value": "latest",
            "user_viewable": True,
            "user_editable": True,
            "rules": "nullable|string|max:20",
            "field_type": "text",
        },
        {
            "name": "Server Jar File",
            "description": "The name of the server jarfile to run the server with.",
            "env_variable": "SERVER_JARFILE",
            "default_value": "server.jar",
            "user_viewable": True,
            "user_editable": True,
            "rules": "required|regex:/^([\\w\\d._-]+)(\\.jar)$/",
            "field_type": "text",
        },
        {
            "name": "Build Number",
            "description": "The build number for the paper release.",
            "env_variable": "BUILD_NUMBER",
            "default_value": "",
            "user_viewable": True,
            "user_editable": True,
            "rules": "required|integer|between:1,99999",
            "field_type": "text",
        },
        {
            "name": "Channel",
            "description": "Release channel.",
            "env_variable": "CHANNEL",
            "default_value": "stable",
            "user_viewable": True,
            "user_editable": True,
            "rules": "required|string|in:stable,beta",
            "field_type": "text",
        },
        {
            "name": "RCON password",
            "description": "Hidden from users.",
            "env_variable": "RCON_PASS",
            "default_value": "",
            "user_viewable": False,
            "user_editable": False,
            "rules": "nullable|string|max:64",
            "field_type": "text",
        },
    ],
}


def test_pterodactyl_egg_with_rules() -> None:
    outcome = import_pterodactyl(json.dumps(EGG))
    ((_, egg, _),) = outcome.templates
    assert egg.name == "Paper"
    by_name = {v.name: v for v in egg.variables}
    assert by_name["DOCKER_IMAGE"].type == "select"
    assert [o.value for o in by_name["DOCKER_IMAGE"].options] == [
        "ghcr.io/pterodactyl/yolks:java_21",
        "ghcr.io/pterodactyl/yolks:java_17",
    ]
    version = by_name["MINECRAFT_VERSION"]
    assert (version.required, version.type, version.pattern) == (False, "string", ".{0,20}")
    jar = by_name["SERVER_JARFILE"]
    assert jar.required is True
    assert jar.pattern == r"^([\w\d._-]+)(\.jar)$"
    build = by_name["BUILD_NUMBER"]
    assert (build.required, build.type) == (True, "number")
    channel = by_name["CHANNEL"]
    assert channel.type == "select"
    assert [o.value for o in channel.options] == ["stable", "beta"]
    assert by_name["RCON_PASS"].type == "secret"
    assert by_name["SERVER_MEMORY"].default == "1024"
    assert by_name["SERVER_PORT"].required is True
    assert "`config`" in egg.documentation
    assert "`scripts`" in egg.documentation

    with pytest.raises(ValidationFailedError) as caught:
        resolve_values(egg.variables, {"SERVER_JARFILE": "server.zip", "SERVER_PORT": "25565"})
    paths = {e["path"] for e in caught.value.details["errors"]}
    assert paths == {"variables.SERVER_JARFILE", "variables.BUILD_NUMBER"}

    values = resolve_values(
        egg.variables, {"BUILD_NUMBER": 42, "SERVER_PORT": 25565, "RCON_PASS": "s3cret"}
    )
    defn = parse_definition(render(egg.compose, values)).to_json()
    server = defn["services"]["server"]
    assert server["image"] == "ghcr.io/pterodactyl/yolks:java_21"
    assert server["environment"]["STARTUP"] == EGG["startup"]
    assert server["environment"]["SERVER_JARFILE"] == "server.jar"
    assert server["environment"]["BUILD_NUMBER"] == "42"


def test_egg_errors_name_the_path() -> None:
    bad = json.loads(json.dumps(EGG))
    bad["variables"][1]["env_variable"] = "not valid"
    with pytest.raises(ValidationFailedError) as caught:
        import_pterodactyl(json.dumps(bad))
    assert caught.value.details["errors"][0]["path"] == "variables.1.env_variable"
    bad = dict(EGG, meta={"version": "PTDL_v1"})
    with pytest.raises(ValidationFailedError) as caught:
        import_pterodactyl(json.dumps(bad))
    assert caught.value.details["errors"][0]["path"] == "meta.version"


COMPOSE = """\
name: blog
services:
  web:
    image: ghost:${GHOST_TAG:-5}
    environment:
      database__connection__password: ${DB_PASSWORD?the database password}
      url: ${URL}
      literal: $${NOT_A_VAR}
    ports:
      - "${PORT:-2368}:2368"
"""


def test_compose_variables() -> None:
    ((_, blog, _),) = import_compose(COMPOSE).templates
    assert blog.name == "blog"
    by_name = {v.name: v for v in blog.variables}
    assert list(by_name) == ["GHOST_TAG", "DB_PASSWORD", "URL", "PORT"]
    assert (by_name["GHOST_TAG"].default, by_name["GHOST_TAG"].required) == ("5", False)
    assert by_name["DB_PASSWORD"].required is True
    assert by_name["DB_PASSWORD"].type == "secret"
    assert by_name["DB_PASSWORD"].description == "the database password"
    assert by_name["URL"].required is True
    values = resolve_values(blog.variables, {"DB_PASSWORD": "pw", "URL": "http://x"})
    defn = parse_definition(render(blog.compose, values)).to_json()
    assert defn["services"]["web"]["image"] == "ghost:5"
    assert defn["services"]["web"]["environment"]["literal"] == "${NOT_A_VAR}"


def test_compose_errors() -> None:
    with pytest.raises(ValidationFailedError) as caught:
        import_compose("services: [1, 2")
    assert caught.value.details["errors"][0]["path"]
    with pytest.raises(ValidationFailedError) as caught:
        import_compose("version: '3'\n")
    assert caught.value.details["errors"][0]["path"] == "services"


def test_dockyard_round_trip_and_undeclared_variable() -> None:
    ((_, blog, _),) = import_compose(COMPOSE).templates
    document = export_document(blog)
    assert document["kind"] == DOCKYARD_KIND
    ((_, again, explicit),) = import_dockyard(json.dumps(document)).templates
    assert explicit is True
    assert again == blog
    doc = {"templates": [document, {**document, "slug": "x", "variables": []}]}
    with pytest.raises(ValidationFailedError) as caught:
        import_dockyard(json.dumps(doc))
    assert caught.value.details["errors"][0]["path"] == "templates.1.variables"
