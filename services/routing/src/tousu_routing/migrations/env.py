from tousu_common.migrations import run_env
from tousu_routing.adapters.orm import Base

run_env(Base.metadata)
