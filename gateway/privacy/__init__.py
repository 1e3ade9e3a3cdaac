"""Privacy at the edge: tokenised names, generalised amounts, suppressed small counts.

Names never enter the indicator tables: connectors tokenise counterparty and product
names at import (``tokens``); what leaves is further generalised on the way out
(``policy``) so the local store keeps exact figures for the enterprise's own staff.
"""
