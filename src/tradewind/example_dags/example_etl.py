"""ETL with TaskFlow: each @task's return value is an XCom, and passing it wires the DAG."""

from __future__ import annotations

from datetime import datetime

from tradewind import dag, task


@dag(
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "taskflow"],
    doc_md="Extract some orders, compute totals per customer, and load a summary.",
)
def example_etl():
    @task
    def extract() -> list[dict]:
        return [
            {"customer": "ada", "amount": 30.0},
            {"customer": "grace", "amount": 12.5},
            {"customer": "ada", "amount": 7.5},
        ]

    @task(multiple_outputs=True)
    def transform(orders: list[dict]) -> dict:
        totals: dict[str, float] = {}
        for order in orders:
            totals[order["customer"]] = totals.get(order["customer"], 0.0) + order["amount"]
        return {"totals": totals, "grand_total": sum(totals.values())}

    @task
    def load(totals: dict, grand_total: float) -> str:
        for customer, amount in sorted(totals.items()):
            print(f"{customer}: {amount:.2f}")
        return f"loaded {len(totals)} customers, {grand_total:.2f} in all"

    summary = transform(extract())
    load(summary["totals"], summary["grand_total"])


example_etl()
