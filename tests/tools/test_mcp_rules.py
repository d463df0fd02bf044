"""The MCP tool's pure rules: approval and allow filters, function names, which server and
credentials a request reaches, and the deployment's `[mcp_servers]` config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from responsa.config import ConfigError, McpServerConfig, load_settings
from responsa.errors import InvalidRequestError
from responsa.tools.mcp.endpoint import resolve_endpoint
from responsa.tools.mcp.items import function_name
from responsa.tools.mcp.policy import is_allowed, needs_approval

READ = {"name": "lookup", "annotations": {"read_only": True}}
WRITE = {"name": "delete", "annotations": None}


@pytest.mark.parametrize(("require", "read", "write"), [
    (None, True, True),  # the real API's default: ask
    ("always", True, True),
    ("never", False, False),
    ({"never": {"tool_names": ["lookup"]}}, False, True),
    ({"never": {"read_only": True}}, False, True),
    ({"always": {"tool_names": ["delete"]}, "never": {"tool_names": ["delete", "lookup"]}},
     False, True),
    ({"always": {"read_only": False}}, True, True),  # `lookup` is in neither list
])
def test_needs_approval(require: Any, read: bool, write: bool) -> None:
    assert (needs_approval(require, READ), needs_approval(require, WRITE)) == (read, write)


@pytest.mark.parametrize(("allowed", "read", "write"), [
    (None, True, True),
    (["delete"], False, True),
    ({"tool_names": ["lookup", "delete"], "read_only": True}, True, False),
    ({"read_only": False}, False, True),
])
def test_allowed_tools(allowed: Any, read: bool, write: bool) -> None:
    assert (is_allowed(allowed, READ), is_allowed(allowed, WRITE)) == (read, write)


def test_function_names_are_valid_and_apart() -> None:
    assert function_name("docs", "search") == "docs__search"
    dotted, underscored = function_name("a.b", "t"), function_name("a_b", "t")
    assert dotted != underscored and dotted.startswith("a_b__t_")
    long = function_name("x" * 40, "y" * 40)
    assert len(long) == 64 and long == function_name("x" * 40, "y" * 40)


CONFIGURED = {"corp": McpServerConfig(name="corp", url="https://corp/mcp",
                                      headers={"X-Key": "secret"}, timeout=5)}


def test_a_label_without_url_reaches_the_configured_server_with_its_credentials() -> None:
    endpoint = resolve_endpoint({"type": "mcp", "server_label": "corp",
                                 "headers": {"X-Key": "mine", "X-Trace": "1"}}, 0, CONFIGURED)
    assert endpoint.url == "https://corp/mcp" and endpoint.timeout == 5
    assert endpoint.headers == {"X-Key": "secret", "X-Trace": "1"}
    assert "secret" not in repr(endpoint)


def test_a_request_url_never_gets_the_deployment_credentials() -> None:
    endpoint = resolve_endpoint({"type": "mcp", "server_label": "corp",
                                 "server_url": "https://elsewhere/mcp", "authorization": "t"},
                                0, CONFIGURED)
    assert endpoint.url == "https://elsewhere/mcp"
    assert endpoint.headers == {"Authorization": "Bearer t"}


def test_connectors_and_unknown_labels_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_endpoint({"type": "mcp", "server_label": "x",
                          "connector_id": "connector_gmail"}, 2, CONFIGURED)
    assert caught.value.param == "tools[2].connector_id"
    with pytest.raises(InvalidRequestError) as caught:
        resolve_endpoint({"type": "mcp", "server_label": "x"}, 1, CONFIGURED)
    assert caught.value.param == "tools[1].server_url"


def test_config_reads_credentials_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "responsa.toml"
    config.write_text('[mcp_servers.docs]\nurl = "http://d/mcp"\nheaders = { "X-Team" = "a" }\n'
                      'headers_env = { "X-Key" = "DOCS_KEY" }\nauthorization_env = "DOCS_TOKEN"\n')
    settings = load_settings(str(config), environ={"DOCS_KEY": "k1", "DOCS_TOKEN": "t1"})
    server = settings.mcp_servers["docs"]
    assert server.headers == {"X-Team": "a", "X-Key": "k1", "Authorization": "Bearer t1"}
    with pytest.raises(ConfigError, match="DOCS_TOKEN"):
        load_settings(str(config), environ={"DOCS_KEY": "k1"})
    config.write_text('[mcp_servers.docs]\nheaders = {}\n')
    with pytest.raises(ConfigError, match="url"):
        load_settings(str(config), environ={})
