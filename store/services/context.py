"""Who acts: a logged-in portal user, or the issuer's batch side."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from ..i18n import _
from ..models import Customer, CustomerNumber, Right, User, UserCustomerNumber, UserRight
from .errors import NotFound, PermissionDenied
from .labels import right_label


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str  # user name or "issuer"
    customer_id: int | None
    rights: frozenset[Right] = field(default_factory=frozenset)
    customer_number_ids: tuple[int, ...] = ()
    is_issuer: bool = False

    def has(self, right: Right) -> bool:
        return self.is_issuer or right in self.rights

    def require(self, right: Right) -> None:
        if not self.has(right):
            message = _("You do not have the right “{right}”. Ask an administrator to grant it.")
            raise PermissionDenied(message.format(right=right_label(right)))

    def require_customer_number(self, customer_number_id: int) -> None:
        if not self.is_issuer and customer_number_id not in self.customer_number_ids:
            raise PermissionDenied(_("You may not act for this customer number."))


ISSUER = Actor(user_id=None, label="issuer", customer_id=None, is_issuer=True)


def actor_for(session: Session, user: User) -> Actor:
    rights = frozenset(session.exec(select(UserRight.right).where(UserRight.user_id == user.id)).all())
    numbers = tuple(
        session.exec(
            select(UserCustomerNumber.customer_number_id)
            .join(CustomerNumber, CustomerNumber.id == UserCustomerNumber.customer_number_id)
            .where(UserCustomerNumber.user_id == user.id)
            .order_by(CustomerNumber.number)
        ).all()
    )
    return Actor(user_id=user.id, label=user.username, customer_id=user.customer_id, rights=rights,
                 customer_number_ids=numbers)


def get_customer(session: Session, actor: Actor) -> Customer:
    customer = session.get(Customer, actor.customer_id)
    if customer is None:
        raise NotFound(_("Customer not found."))
    return customer
