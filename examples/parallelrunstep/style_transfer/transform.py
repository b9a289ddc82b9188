# The style-transfer example of ParallelRunStep
# (pipeline-style-transfer-parallel-run, scripts/transform.py) as it runs
# under prs: the same init() (AZUREML_BI_OUTPUT_PATH, argparse --style,
# Model.get_model_path of the style) and run(), which writes one styled
# image per input image to the output folder. The "style model" is a 3x3
# colour matrix in numpy instead of a PyTorch network.
import argparse
import os

import numpy as np
from PIL import Image

from azureml.core.model import Model

style_model = None


def load_image(filename):
    img = Image.open(filename)
    return img


def save_image(filename, data):
    img = np.clip(data, 0, 255).astype("uint8")
    img = Image.fromarray(img)
    img.save(filename)


def init():
    global output_path, args
    global style_model
    output_path = os.environ['AZUREML_BI_OUTPUT_PATH']
    print(f'output path: {output_path}')

    arg_parser = argparse.ArgumentParser(description="parser for fast-neural-style")
    arg_parser.add_argument("--style", type=str, help="style name")
    args, unknown_args = arg_parser.parse_known_args()
    model_path = Model.get_model_path(args.style)
    style_model = np.load(model_path)
    print(f'Model loaded successfully. Path: {model_path}')


def run(mini_batch):

    result = []
    for image_file_path in mini_batch:
        img = load_image(image_file_path)

        content_image = np.asarray(img.convert("RGB"), dtype=float)
        output = content_image @ style_model.T
        output_file_path = os.path.join(output_path, os.path.basename(image_file_path))
        save_image(output_file_path, output)
        result.append(output_file_path)

    return result
