"""The identity provider's admin API, for the tests that add users or change clients."""

from __future__ import annotations

import pytest
import requests


class RealmAdmin:
    def __init__(self, idp) -> None:
        if not idp.admin_password:
            pytest.skip("the reused identity provider's admin password is unknown")
        token = requests.post(
            f"{idp.base_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": idp.admin_password,
            },
            timeout=30,
        ).json()["access_token"]
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.url = f"{idp.base_url}/admin/realms/{idp.issuer.rsplit('/', 1)[1]}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        resp = self.http.request(method, self.url + path, timeout=30, **kwargs)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.text[:300])
        return resp

    def user_id(self, username: str) -> str:
        return self.call("GET", "/users", params={"username": username, "exact": "true"}).json()[0][
            "id"
        ]

    def create_user(self, username: str, *, roles: list[str], **fields) -> str:
        self.call(
            "POST",
            "/users",
            json={
                "username": username,
                "enabled": True,
                "credentials": [{"type": "password", "value": username, "temporary": False}],
                **fields,
            },
        )
        user_id = self.user_id(username)
        wanted = [self.call("GET", f"/roles/{role}").json() for role in roles]
        self.call("POST", f"/users/{user_id}/role-mappings/realm", json=wanted)
        return user_id

    def client(self, client_id: str) -> dict:
        return self.call("GET", "/clients", params={"clientId": client_id}).json()[0]

    def back_channel_to(self, client_id: str, url: str) -> str | None:
        """Point a client's back-channel logout at ``url``; returns the URL it had."""
        client = self.client(client_id)
        before = client["attributes"].get("backchannel.logout.url")
        client["attributes"]["backchannel.logout.url"] = url
        self.call("PUT", f"/clients/{client['id']}", json=client)
        return before

    def create_unverified(self, username: str, email: str) -> str:
        """Researcher Uma, whose address ``email`` the provider has not verified."""
        return self.create_user(
            username,
            roles=["researcher"],
            email=email,
            emailVerified=False,
            firstName="Uma",
            lastName="Unverified",
        )
