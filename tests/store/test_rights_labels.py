"""A refusal names the missing right as the rights list and the menu name it, in the user's language, not by
its code ("cards.manage")."""
from __future__ import annotations

import pytest

from store.i18n import use_language
from store.models import Right
from store.services.context import Actor
from store.services.errors import PermissionDenied
from store.services.labels import RIGHT_LABELS, right_label


def test_every_right_has_a_label():
    assert set(RIGHT_LABELS) == set(Right)
    assert len(set(RIGHT_LABELS.values())) == len(Right)  # a refusal names exactly one right
    assert right_label(Right.CARD_MANAGE) == right_label("cards.manage") == "Manage cards and OBUs"
    assert right_label("no.such.right") == "no.such.right"


@pytest.mark.parametrize("language, message", [
    ("en", "You do not have the right “Manage cards and OBUs”. Ask an administrator to grant it."),
    ("nl", "U hebt het recht “Kaart/OBU beheren” niet. Vraag een beheerder om het toe te kennen."),
    ("fr", "Vous n'avez pas le droit « Gérer les cartes et OBU ». "
           "Demandez à un administrateur de vous l'accorder."),
])
def test_a_refusal_names_the_right_in_the_language_in_force(language, message):
    actor = Actor(user_id=1, label="accounting", customer_id=1, rights=frozenset({Right.INVOICE_DOWNLOAD}))
    with use_language(language), pytest.raises(PermissionDenied) as refused:
        actor.require(Right.CARD_MANAGE)
    assert str(refused.value) == message
