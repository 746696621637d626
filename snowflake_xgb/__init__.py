"""snowflake_xgb: distributed XGBoost training on Amazon SageMaker, straight from Snowflake.

The training job (``snowflake_xgb.training:main``) flows one way, and the folders follow it:

    config -> credentials -> query -> this host's slice -> matrix -> training -> outputs

The same entry point scores a table with ``job=score`` (``scoring``): the same path to this
host's slice, then predictions written back to Snowflake through a stage and ``COPY INTO``.

Imports point down this table, never up; the job (``training``) and the public API (``api``)
both build on the shared steps, and neither imports the other. Each concern lives in one module:

=================================  =========================================================
``errors``                         ``UserError``: a failure the person running the job can fix
``redaction``                      what a secret looks like; keeping secrets out of logs, outputs
``data_sets``                      the names of a job's data sets (read, and in metric lines)
``sagemaker_layout``               the names in SageMaker's ``/opt/ml`` (training and serving)
``identifiers``                    Snowflake name rules: table, column, query id; quoting
``booleans``                       the spellings of true and false (settings, server config)
``model_files.encoding``           column values -> float32 features (kinds, units, categories)
``model_files.columns``            which columns a model reads, in what role (``ColumnSelection``)
``model_files.margins``              raw margins -> class probabilities (the report and serving)
``model_files.aws_model_format``   the opt-in model file AWS's SageMaker XGBoost images predict
``model_files.outputs``            model, metadata, shard reports (what serving reads)
``config.settings``                the table of the job's settings: kind, default, bounds, doc
``config.job_config``              settings -> what data (``DataSpec``), how (``JobConfig``)
``config.xgboost_params``          XGBoost's learning parameters, validated by XGBoost itself
``sagemaker.job_environment``      the SageMaker training contract: folders, hosts, input files
``sagemaker.failure``              the failure reason and the non-zero exit, for every failure
``hosts.liveness``                 noticing a lost host within seconds
``hosts.hosts``                    the hosts: tracker, collective, bounded waits
``credentials.snowflake_environment``  the ``SNOWFLAKE_*`` environment, read once
``credentials.bootstrap``          Secrets Manager -> Snowflake credentials in the environment
``credentials.workload_identity``  keyless sign-in: the role presented, why it was refused
``query.snowflake_session``        connecting, describing and running queries
``query.queries``                  the SQL the job runs (columns, validation split, folds)
``query.data_snapshot``            the rows a job trained on, recorded so a resume reads them
``query.query_plan``               the coordinator plans and submits the queries once
``loading.sharding``               which rows of a result belong to which host
``loading.downloads``              this host's result chunks, several in flight, bounded
``loading.slices``                 this host's slice of a result, as Arrow tables
``loading.result_schema``         one Arrow schema for a result's batches (the public API)
``loading.blocks``                 Arrow tables -> float32 blocks (checks, query groups)
``loading.matrices``               blocks -> XGBoost matrices (quantized, external, folds)
``loading.host_data``              this host's slice of each result, as matrices
``boosting.callbacks``             the per-round metric lines
``boosting.target_metrics``        a multi-output model's metrics per label, over the hosts
``boosting.trained``                the booster as trained; the model as saved (its best round)
``boosting.checkpoints``           saving and resuming boosters
``boosting.interruption``          SIGTERM: stop after the round, checkpoint, exit in time
``boosting.cross_validation``      k-fold cross-validation: k boosters round by round
``boosting.model_metadata``        what ``metadata.json`` says of a trained model, typed
``report.validation_scores``       confusion matrix and ROC counts that add up over the hosts
``report.charts``                  the report's charts (matplotlib, inline SVG)
``report.page``                    the training report page (HTML) from a plain summary
``report.job_report``              the report's step in the job: sums over the hosts, the page
``tracking.mlflow_run``            the job as one MLflow run (coordinator; ``MLFLOW_TRACKING_URI``)
``script_mode``                    running the user's entry point after the bootstrap
``api``                            the public API for user scripts (script mode)
``scoring.score_config``           ``job=score``: the scoring job's settings (``ScoreConfig``)
``scoring.scoring_model``          the model in the ``model`` channel: checks, typed outputs
``scoring.write_back``             Parquet, PUT, COPY INTO the job's table; publish in one statement
``scoring.job``                    the scoring job: its steps in order
``training``                       the job: its steps in order, and the entry point
``serving``                        ``serve``: the SageMaker hosting contract, the model folder
=================================  =========================================================
"""

__version__ = "0.1.0"
