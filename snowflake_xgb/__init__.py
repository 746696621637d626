"""snowflake_xgb: distributed XGBoost training on Amazon SageMaker, straight from Snowflake.

The training job (``snowflake_xgb.training:main``) flows one way:

    config -> credentials -> query -> this host's slice -> matrix -> training -> outputs

The job (``training``) and the public API (``api``) both build on the shared steps; the API
never imports the job. Each concern lives in one module:

========================  ==================================================================
``job_environment``       the SageMaker contract: folders, hosts, input files
``settings``              the table of the job's settings: kind, default, bounds, doc
``config``                settings -> what data (``DataSpec``), how to train (``JobConfig``)
``xgboost_params``        XGBoost's learning parameters, validated by XGBoost itself
``redaction``             what a secret looks like; keeping secrets out of logs and outputs
``credentials``           Secrets Manager -> Snowflake credentials in the environment
``snowflake_environment`` the ``SNOWFLAKE_*`` environment, read once
``snowflake_session``     connecting, describing and running queries
``encoding``              column values -> float32 features (kinds, units, categories, labels)
``queries``               the SQL the job runs (columns, validation split)
``query_plan``            the coordinator plans and submits the queries once, for all hosts
``data_snapshot``         the rows a job trained on, recorded so a resumed job reads them again
``sharding``              which rows of a result belong to which host
``downloads``             this host's result chunks, several in flight, in order, bounded
``loading``               Arrow batches -> XGBoost quantized matrix
``host_data``             this host's slice of each result, as matrices
``host_group``            the hosts: tracker, collective, bounded waits
``liveness``              noticing a lost host within seconds
``callbacks``             the per-round metric lines
``cross_validation``      k-fold cross-validation: k boosters round by round, ``cv.json``
``checkpoints``           saving and resuming boosters
``interruption``          SIGTERM: stop after the round, checkpoint, exit in time
``outputs``               model, metadata, shard reports
``validation_scores``     confusion matrix and ROC counts that add up over the hosts
``report``                the training report page (HTML) from a plain summary
``report_charts``         the report's charts (matplotlib, inline SVG)
``job_report``            the report's step in the job: sums over the hosts, the page
``aws_model_format``      the opt-in model file AWS's SageMaker XGBoost images predict right
``errors``                ``UserError``: a failure the person running the job can fix
``failure``               the failure reason and the non-zero exit, for every failure
``training``              the job: its steps in order, and the entry point
``api``                   the public API for user scripts (script mode)
``script_mode``           running the user's entry point after the bootstrap
``serving``               ``serve``: the SageMaker hosting contract, reading the model folder
========================  ==================================================================
"""

__version__ = "0.1.0"
