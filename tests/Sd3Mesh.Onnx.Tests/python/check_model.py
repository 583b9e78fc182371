# Independent check of a model file written by Sd3Mesh: Debian's python3-onnx loads it (external data
# included), runs the full checker (with strict shape inference) and prints a JSON summary.
import json, sys
import onnx
from onnx import numpy_helper

model = onnx.load(sys.argv[1])  # also reads external data beside the file
onnx.checker.check_model(model, full_check=True)
g = model.graph
# Forget the declared output shapes, so what is printed is what ONNX's own shape inference derives.
bare = onnx.ModelProto()
bare.CopyFrom(model)
for o in bare.graph.output:
    o.type.tensor_type.ClearField("shape")
inferred = onnx.shape_inference.infer_shapes(bare, strict_mode=True)
print(json.dumps({
    "ir_version": model.ir_version,
    "opsets": {o.domain: o.version for o in model.opset_import},
    "inputs": [[i.name, i.type.tensor_type.elem_type,
                [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]] for i in g.input],
    "outputs": [o.name for o in g.output],
    "nodes": [n.op_type for n in g.node],
    "initializers": {t.name: [float(v) for v in numpy_helper.to_array(t).astype("float64").ravel()[:4]] for t in g.initializer},
    "inferred_output_shapes": [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
                               for o in inferred.graph.output],
}))
