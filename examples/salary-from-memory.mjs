// The salary image, with the model written from memory: a program that trains (here: holds) a model serialises it
// straight into a layer, no temp file. The predictor script comes from disk; both land in /app.
//
//   node examples/salary-from-memory.mjs BASE DEST
//   node examples/salary-from-memory.mjs 127.0.0.1:5000/base/busybox:oci 127.0.0.1:5000/ml/salary:1
import { Remote, append, fileLayer, memoryLayer, openImage, push, withConfig } from 'stowage';

const [base, dest] = process.argv.slice(2);
if (!base || !dest) throw new Error('usage: salary-from-memory.mjs BASE DEST');

// "Training": least squares over a few points would go here; the coefficients are what ends up in the image.
const model = { model: 'linear-regression', feature: 'years_experience', target: 'salary', intercept: 25792.20019866871, coef: 9449.962321455074 };

const remote = new Remote();
try {
  const weights = await memoryLayer([{ path: '/app/model.json', content: JSON.stringify(model), mode: 0o644 }]);
  const code = await fileLayer({ source: new URL('../fixtures/salary/predict.sh', import.meta.url).pathname, dest: '/app/predict.sh' });
  const image = withConfig(append(openImage(base, { remote }), weights, code), {
    entrypoint: ['/bin/sh', '/app/predict.sh'],
    cmd: ['0'],
    // The layer's diff_id names the exact model bytes: a label a serving system can check.
    labels: { 'org.opencontainers.image.title': 'salary', 'model.diff_id': weights.diffId },
  });
  const { digest } = await push(image, dest, { remote });
  console.log(digest);
} finally {
  remote.close();
}

