# The partition-by-column example of ParallelRunStep
# (tabular-dataset-partition-per-column) as it runs under prs: the same
# total of each mini-batch's INCOME, over the rows that partition_key_value
# selects (every row of the mini-batch: each value is typed as its column,
# so Store == 1000 holds for an integer column).
import pandas as pd


def init():
    print("Init")


def run(mini_batch, mini_batch_context):
    print(f'run method start: {__file__}, run({mini_batch}, {mini_batch_context})')
    selected = pd.Series(True, index=mini_batch.index)
    for key, value in mini_batch_context.partition_key_value.items():
        selected &= mini_batch[key] == value
    partition = mini_batch[selected].copy()
    total_income = partition["INCOME"].sum()
    print(f'total_income = {total_income}')
    partition["total_income"] = total_income

    return partition
