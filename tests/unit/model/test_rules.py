"""The model service's pure rules: eligibility reasons and their order, the price guard, input checks, the
platform defaults per provider, and the cached settings encoding."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from db.models.model import ModelCatalog
from services.model.catalog import ModelView
from services.model.connections import check_base_url, keyed_platform_providers, platform_route
from services.model.eligibility import Reason, reason_for, use_permission
from services.model.prices import check_currency, check_price
from services.model.workspace_models import Setting, Settings
from services.runtime.errors import BadInput
from services.runtime.settings import Settings as PlatformSettings

EVERY_USE = frozenset({"model:use:local", "model:use:free", "model:use:premium"})
KEYED = frozenset({"openai"})


def view(
    *, is_local: bool = False, is_free: bool = False, min_plan: str = "free", installed: bool = False
) -> ModelView:
    row = ModelCatalog(
        id="m", provider="openai", name="m", is_local=is_local, is_free=is_free, min_plan=min_plan
    )
    return ModelView(row=row, price=None, installed=installed)


@pytest.mark.parametrize(
    ("model", "plan", "setting", "permissions", "expected"),
    [
        (view(min_plan="pro"), "free", Setting("m"), EVERY_USE, Reason.PLAN_REQUIRED),
        (view(min_plan="pro"), "paygo", Setting("m"), EVERY_USE, None),
        (view(is_local=True, min_plan="pro", installed=True), "free", Setting("m"), EVERY_USE, None),
        # The plan is named first: an upgrade is what lifts it, whatever else is in the way.
        (view(min_plan="pro"), "free", Setting("m", enabled=False), frozenset(), Reason.PLAN_REQUIRED),
        (view(is_free=True), "free", Setting("m", enabled=False), frozenset(), Reason.DISABLED_BY_ADMIN),
        (
            view(is_free=True),
            "free",
            Setting("m"),
            frozenset({"model:use:premium"}),
            Reason.PERMISSION_REQUIRED,
        ),
        (view(is_local=True), "pro", Setting("m"), EVERY_USE, Reason.NOT_INSTALLED),
        (view(is_local=True), "pro", Setting("m"), frozenset(), Reason.PERMISSION_REQUIRED),
    ],
)
def test_reasons_in_order(
    model: ModelView, plan: str, setting: Setting, permissions: frozenset[str], expected: Reason | None
) -> None:
    assert (
        reason_for(model, plan=plan, setting=setting, permissions=permissions, keyed_providers=KEYED)
        == expected
    )


def test_a_platform_cloud_model_without_a_key_is_unavailable_and_the_rest_comes_first() -> None:
    def reason(
        model: ModelView, keyed: frozenset[str], permissions: frozenset[str] = EVERY_USE
    ) -> Reason | None:
        return reason_for(
            model, plan="pro", setting=Setting("m"), permissions=permissions, keyed_providers=keyed
        )

    assert reason(view(), frozenset()) == Reason.PROVIDER_UNAVAILABLE
    assert reason(view(), frozenset({"anthropic"})) == Reason.PROVIDER_UNAVAILABLE
    assert reason(view(), frozenset(), permissions=frozenset()) == Reason.PERMISSION_REQUIRED
    assert reason(view(is_local=True, installed=True), frozenset()) is None  # Ollama needs no key
    tenant_model = view()
    tenant_model.row.connection_id = "c"  # the tenant's own connection may be keyless (vLLM, LM Studio)
    assert reason(tenant_model, frozenset()) is None


def test_each_model_class_needs_its_own_permission() -> None:
    assert use_permission(view(is_local=True, is_free=True).row) == "model:use:local"
    assert use_permission(view(is_free=True).row) == "model:use:free"
    assert use_permission(view().row) == "model:use:premium"


@pytest.mark.parametrize("url", ["ftp://host", "http://", "localhost:11434", "https://" + "a" * 1100])
def test_bad_base_urls_name_the_field(url: str) -> None:
    with pytest.raises(BadInput) as caught:
        check_base_url(url)
    assert caught.value.field == "base_url"


def test_good_base_urls_lose_their_trailing_slash() -> None:
    assert check_base_url(" https://api.example.com/v1/ ") == "https://api.example.com/v1"


def test_prices_and_currencies() -> None:
    check_price(0, "p")
    with pytest.raises(BadInput):
        check_price(-1, "p")
    assert check_currency(" eur ") == "EUR"
    with pytest.raises(BadInput):
        check_currency("EURO")


def test_platform_defaults_per_provider() -> None:
    settings = PlatformSettings(
        _env_file=None,  # type: ignore[call-arg]
        deepseek_api_key=SecretStr("ds-key"),
    )
    deepseek = platform_route(settings, "deepseek")
    assert deepseek is not None
    assert deepseek[:2] == ("openai", "https://api.deepseek.com/v1")
    assert deepseek[2] is not None
    assert deepseek[2].get_secret_value() == "ds-key"
    assert platform_route(settings, "ollama") == ("ollama", "http://127.0.0.1:11434", None)
    assert platform_route(settings, "anthropic") == ("anthropic", "https://api.anthropic.com", None)
    assert platform_route(settings, "tenant-connection-name") is None


def test_cached_settings_round_trip_and_default_to_enabled() -> None:
    settings = Settings([Setting("a", enabled=False, cost_override_micros=5, max_tokens_override=100)])

    decoded = Settings.from_json(settings.to_json())

    assert decoded.of("a") == Setting("a", enabled=False, cost_override_micros=5, max_tokens_override=100)
    assert decoded.of("unlisted") == Setting("unlisted", enabled=True)


def test_keyed_providers_are_the_ones_with_a_platform_key() -> None:
    settings = PlatformSettings(openai_api_key=SecretStr("sk-x"), anthropic_api_key=SecretStr("  "))
    assert keyed_platform_providers(settings) == frozenset({"openai"})
    assert keyed_platform_providers(PlatformSettings()) == frozenset()
