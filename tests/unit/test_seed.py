"""The permission matrix, plan quotas and model catalog: the rules the seed puts in the database."""

from __future__ import annotations

import re

from db.seed import DEFAULT_ROLE_PERMISSIONS, MODEL_CATALOG, PERMISSIONS, PLAN_QUOTAS, ROLE_DESCRIPTIONS
from services.runtime.plans import PLANS

REQUIRED_PERMISSIONS = {
    "chat:create", "chat:view:own", "chat:view:workspace", "chat:delete", "model:use:local", "model:use:free",
    "model:use:premium", "model:install", "model:remove", "model:configure", "member:invite", "member:remove",
    "member:role:update", "member:view", "invitation:revoke", "role:create", "role:update", "role:delete",
    "workspace:config", "workspace:delete", "workspace:billing", "billing:view", "usage:view:own",
    "usage:view:workspace", "audit:view", "audit:export", "tool:use", "tool:configure", "apikey:create",
    "apikey:revoke", "conversation:share",
}  # fmt: skip


def test_catalogue_has_every_required_permission_named_resource_action_scope() -> None:
    assert len(REQUIRED_PERMISSIONS) == 31
    assert set(PERMISSIONS) >= REQUIRED_PERMISSIONS
    for name, description in PERMISSIONS.items():
        assert re.fullmatch(r"[a-z]+(:[a-z]+){1,2}", name), name
        assert description.strip(), name


def test_the_four_default_roles_use_only_catalogued_permissions() -> None:
    assert set(DEFAULT_ROLE_PERMISSIONS) == {"owner", "admin", "editor", "viewer"} == set(ROLE_DESCRIPTIONS)
    for role, permissions in DEFAULT_ROLE_PERMISSIONS.items():
        assert permissions <= set(PERMISSIONS), role


def test_owner_has_everything() -> None:
    assert DEFAULT_ROLE_PERMISSIONS["owner"] == set(PERMISSIONS)


def test_admin_has_everything_but_billing() -> None:
    assert set(PERMISSIONS) - DEFAULT_ROLE_PERMISSIONS["admin"] == {"workspace:billing", "billing:view"}


def test_editor_chats_with_models_and_tools_but_administers_nothing() -> None:
    editor = DEFAULT_ROLE_PERMISSIONS["editor"]

    assert {"chat:create", "model:use:local", "model:use:free", "model:use:premium", "tool:use"} <= editor
    assert {"conversation:share", "apikey:create", "usage:view:own", "member:view"} <= editor
    assert not editor & {"model:install", "model:remove", "model:configure", "tool:configure"}
    assert not editor & {"member:invite", "member:remove", "member:role:update", "role:create"}
    assert not editor & {"workspace:config", "workspace:delete", "workspace:billing", "billing:view"}
    assert not editor & {"audit:view", "audit:export", "usage:view:workspace"}


def test_viewer_only_reads() -> None:
    assert DEFAULT_ROLE_PERMISSIONS["viewer"] == {
        "chat:view:own",
        "chat:view:workspace",
        "member:view",
        "usage:view:own",
    }


def test_roles_nest_viewer_editor_admin_owner() -> None:
    roles = DEFAULT_ROLE_PERMISSIONS

    assert roles["viewer"] < roles["editor"] < roles["admin"] < roles["owner"]


def test_plan_quotas() -> None:
    assert set(PLAN_QUOTAS) == set(PLANS)
    assert (PLAN_QUOTAS["free"].tokens_limit, PLAN_QUOTAS["free"].requests_limit) == (50_000, 100)
    assert (PLAN_QUOTAS["pro"].tokens_limit, PLAN_QUOTAS["pro"].requests_limit) == (500_000, 10_000)
    assert (PLAN_QUOTAS["paygo"].tokens_limit, PLAN_QUOTAS["paygo"].requests_limit) == (-1, -1)


def test_catalog_has_the_seed_models_with_their_plans_caps_and_prices() -> None:
    catalog = {entry.id: entry for entry in MODEL_CATALOG}
    summary = {
        key: (e.provider, e.min_plan, e.is_free, e.is_local, e.max_free_tokens_per_month, e.micros_per_1k)
        for key, e in catalog.items()
    }

    assert len(catalog) == len(MODEL_CATALOG) == 7
    assert summary == {
        "gpt-4o-mini": ("openai", "free", True, False, 100_000, 0),
        "gpt-4": ("openai", "pro", False, False, None, 30_000),
        "claude-haiku": ("anthropic", "free", True, False, 100_000, 0),
        "claude-3-5-sonnet": ("anthropic", "pro", False, False, None, 15_000),
        "llama2": ("ollama", "free", True, True, 100_000, 0),
        "mistral": ("ollama", "free", True, True, 100_000, 0),
        "deepseek-r1": ("deepseek", "pro", False, False, None, 2_000),
    }
    assert catalog["llama2"].display_name == "Llama 2 7B"
    assert catalog["mistral"].display_name == "Mistral 7B"
    assert catalog["gpt-4o-mini"].display_name == "GPT-4o Mini"


def test_catalog_limits_are_sane() -> None:
    for entry in MODEL_CATALOG:
        assert 0 < entry.max_output_tokens < entry.context_window, entry.id
        assert entry.min_plan in PLANS, entry.id
        assert isinstance(entry.micros_per_1k, int), entry.id  # money stays integer micro-units
