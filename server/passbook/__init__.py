"""The points passbook (积分存折): an append-only, hash-chained ledger, merchants, redemptions."""
