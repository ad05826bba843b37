"""How a deposit moves: its natural steps, the direct edits allowed, and a valid amount.

Natural steps follow Calypso's flow: MEM_POOL_FOUND/UNCHECKED → PENDING_COMPLIANCE_CHECK/
IN_PROGRESS → CONFIRMED/CHECKED or DECLINED/DECLINE → credited (translationToAccountCompleted,
only after CONFIRMED). Direct edits may skip steps (Calypso does not promise MEM_POOL_FOUND is
ever seen) but never leave a final state nor credit an unconfirmed transaction.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

from bridge.calypso.models import ComplianceState, TransactionState
from bridge.sandbox.addresses import Currency
from bridge.sandbox.records import Conflict, InvalidRequest, TransactionRecord

__all__ = ["FINAL_STATES", "INITIAL_COMPLIANCE", "advance", "checked_amount", "patch"]

FINAL_STATES = frozenset({TransactionState.CONFIRMED, TransactionState.DECLINED})
# The compliance state a transaction has when it is created directly in a given state.
INITIAL_COMPLIANCE = MappingProxyType(
    {
        TransactionState.MEM_POOL_FOUND: ComplianceState.UNCHECKED,
        TransactionState.PENDING_COMPLIANCE_CHECK: ComplianceState.IN_PROGRESS,
        TransactionState.CONFIRMED: ComplianceState.CHECKED,
        TransactionState.DECLINED: ComplianceState.DECLINE,
    }
)
# Above this many integer digits an amount is surely a mistake in a test, not a deposit.
_MAX_INTEGER_DIGITS = 18


def advance(tx: TransactionRecord, *, decline: bool = False) -> TransactionRecord:
    """One natural step; ``decline`` turns the compliance step into a rejection."""
    if decline and tx.state is not TransactionState.PENDING_COMPLIANCE_CHECK:
        raise Conflict(
            f"decline applies to PENDING_COMPLIANCE_CHECK only; transaction is {tx.state}"
        )
    if tx.state is TransactionState.MEM_POOL_FOUND:
        tx.state = TransactionState.PENDING_COMPLIANCE_CHECK
        tx.compliance = ComplianceState.IN_PROGRESS
    elif tx.state is TransactionState.PENDING_COMPLIANCE_CHECK and decline:
        tx.state, tx.compliance = TransactionState.DECLINED, ComplianceState.DECLINE
    elif tx.state is TransactionState.PENDING_COMPLIANCE_CHECK:
        tx.state, tx.compliance = TransactionState.CONFIRMED, ComplianceState.CHECKED
    elif tx.state is TransactionState.CONFIRMED and not tx.credited:
        tx.credited = True
    else:
        credited = " and credited" if tx.credited else ""
        raise Conflict(f"transaction is {tx.state}{credited}: nothing left to advance")
    return tx


def patch(
    tx: TransactionRecord,
    *,
    state: TransactionState | None = None,
    compliance: ComplianceState | None = None,
    credited: bool | None = None,
) -> TransactionRecord:
    """Set fields directly, to reach states the natural steps skip (e.g. compliance only)."""
    if state is not None and state is not tx.state and tx.state in FINAL_STATES:
        raise Conflict(f"{tx.state} is final; it cannot become {state}")
    if credited and (state or tx.state) is not TransactionState.CONFIRMED:
        raise Conflict("only a CONFIRMED transaction can be credited to the account")
    if state is not None:
        tx.state = state
    if compliance is not None:
        tx.compliance = compliance
    if credited is not None:
        tx.credited = credited
    return tx


def checked_amount(amount: Decimal, currency: Currency) -> Decimal:
    if not amount.is_finite() or amount <= 0:
        raise InvalidRequest("amount must be a positive decimal")
    if amount.adjusted() >= _MAX_INTEGER_DIGITS:
        raise InvalidRequest(f"amount {amount} is implausibly large")
    _sign, digits, written_exponent = amount.as_tuple()
    assert isinstance(written_exponent, int)  # finite, checked above
    # Count decimals by hand: Decimal.normalize() would round to the context's 28 digits.
    significant, exponent = list(digits), written_exponent
    while exponent < 0 and significant and significant[-1] == 0:
        significant.pop()
        exponent += 1
    if -exponent > currency.decimals:
        raise InvalidRequest(
            f"{currency.ticker} has {currency.decimals} decimals; {amount} has more"
        )
    # 1E+2 would be written back in scientific notation; spell it as the integer it is.
    return amount.quantize(Decimal(1)) if written_exponent > 0 else amount
