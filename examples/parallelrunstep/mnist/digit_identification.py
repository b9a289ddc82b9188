# The MNIST example of ParallelRunStep's file-dataset notebook
# (file-dataset-image-inference-mnist) as it runs under prs: the same
# structure, Model.get_model_path of a model folder, PIL to read each image
# and one "{file}: {prediction}" string per image. The model is one linear
# layer in numpy (weights.npy, bias.npy) instead of a TensorFlow graph.
import os
import numpy as np
from PIL import Image
from azureml.core import Model


def init():
    global g_weights, g_bias

    # pull down model from workspace
    model_path = Model.get_model_path("mnist-prs")

    # load the layer to execute
    g_weights = np.load(os.path.join(model_path, 'weights.npy'))
    g_bias = np.load(os.path.join(model_path, 'bias.npy'))


def run(mini_batch):
    print(f'run method start: {__file__}, run({mini_batch})')
    resultList = []

    for image in mini_batch:
        # prepare each image
        data = Image.open(image)
        np_im = np.array(data).reshape((1, 784))
        # perform inference
        inference_result = np_im @ g_weights + g_bias
        # find best probability, and add to result list
        best_result = np.argmax(inference_result)
        resultList.append("{}: {}".format(os.path.basename(image), best_result))

    return resultList
