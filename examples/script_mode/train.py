"""Script-mode example: your own training logic on our image, with Snowflake data.

SageMaker runs this file on every host (``entry_point="train.py"``; see
``examples/launch_training_job.py``) after the image's secrets bootstrap has put the
Snowflake credentials in the environment. Hyperparameters arrive as ``--name value``
arguments. Everything Snowflake- and SageMaker-specific comes from ``snowflake_xgb.api``:
joining the hosts, reading this host's exactly-once slice of the query, writing the model.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import xgboost as xgb

from snowflake_xgb import api


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default="SELECT * FROM DEMO.PUBLIC.CALIFORNIA_HOUSING")
    parser.add_argument("--label", default="MEDHOUSEVAL")
    parser.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    parser.add_argument("--validation_fraction", type=float, default=0.2)
    parser.add_argument("--num_round", type=int, default=50)
    parser.add_argument("--max_depth", type=int, default=6)
    parser.add_argument("--eta", type=float, default=0.2)
    parser.add_argument("--objective", default="reg:squarederror")
    parser.add_argument("--eval_metric", default="rmse")
    # Other hyperparameters (tracker_port, ...) are read by the API itself: ignore them here.
    args, _ = parser.parse_known_args()
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args()
    params = {
        "objective": args.objective,
        "eval_metric": args.eval_metric,
        "max_depth": args.max_depth,
        "eta": args.eta,
        "tree_method": "hist",
    }

    with api.join_hosts() as hosts:
        data = api.load_quantile_dmatrix(
            args.query,
            label=args.label,
            exclude=args.exclude,
            validation_fraction=args.validation_fraction,
        )
        booster = xgb.train(
            params,
            data.train,
            num_boost_round=args.num_round,
            evals=data.evals,
            verbose_eval=False,
            callbacks=[api.metric_printer()],
        )

        # Your own logic goes here. For example, a metric over every host's validation rows:
        # each host scores its own slice, and the hosts add up the sums.
        errors = np.abs(booster.predict(data.validation) - data.validation.get_label())
        total_error = sum(hosts.gather(float(errors.sum())))
        total_rows = sum(hosts.gather(float(len(errors))))
        validation_mae = total_error / max(total_rows, 1.0)
        if hosts.is_coordinator:
            print(f"validation-mae (all hosts): {validation_mae:.5f}", flush=True)
        # Still joined: hosts leave together, so no host exits before the model is
        # written (SageMaker's local mode stops every host as soon as one exits).
        api.save_model(booster, metadata={**data.metadata, "validation_mae": validation_mae})


if __name__ == "__main__":
    main()
