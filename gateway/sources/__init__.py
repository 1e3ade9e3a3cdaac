"""Gateway-side sources that are not bus drivers (cameras via inference/, MES/ERP exports), same Driver interface."""
