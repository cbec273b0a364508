// The page: opens WebGPU through wgtrain's wasm module, trains, draws, classifies, benchmarks.
// `?train=mlp&epochs=1&limit=2000` (or `train=cnn`) trains without a click; `?bench=FILTER`
// runs the kernel benchmark (`&post=1` posts the report to the server, for `cargo xtask web
// bench`). Every run ends with a console line `wgtrain: done` or `wgtrain: error: ...`.
import init, { Session } from './pkg/wgtrain.js';

const $ = (id) => document.getElementById(id);
const DATA = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
              't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];

// A line on the page, and on the console unless wgtrain wrote it there already.
function say(line, logged = false) {
  if (!logged) console.log(line);
  $('log').textContent += line + '\n';
}

function fail(message) {
  console.error(`wgtrain: error: ${message}`);
  $('error').textContent = message;
  $('error').hidden = false;
}

const why = (e) => (e && e.message) || String(e);

async function fetchBytes(name) {
  const response = await fetch(`data/fashion-mnist/${name}`);
  if (!response.ok) throw new Error(`fetching ${name}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Loss and accuracy curves: training at every progress readback, validation each epoch.
const curves = { train: [], val: [] };

function drawCurves() {
  const canvas = $('curves');
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  const panels = [['loss', 0], ['accuracy', 1]];
  const w = canvas.width / 2;
  for (const [name, k] of panels) {
    const x0 = k * w + 40, y0 = 20, pw = w - 60, ph = canvas.height - 50;
    const points = [...curves.train, ...curves.val];
    const xmax = Math.max(1, ...points.map((p) => p.x));
    const ymax = k === 1 ? 1 : Math.max(0.1, ...points.map((p) => p.y[0]));
    g.strokeStyle = '#999';
    g.strokeRect(x0, y0, pw, ph);
    g.fillStyle = '#000';
    g.fillText(`${name} (0 – ${ymax.toFixed(2)}) over epochs`, x0, y0 - 6);
    for (const [series, color] of [[curves.train, '#1f5fbf'], [curves.val, '#d2691e']]) {
      g.strokeStyle = color;
      g.fillStyle = color;
      g.beginPath();
      series.forEach((p, i) => {
        const x = x0 + (p.x / xmax) * pw, y = y0 + ph - (p.y[k] / ymax) * ph;
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
        if (series === curves.val) g.fillRect(x - 2, y - 2, 4, 4);
      });
      g.stroke();
    }
  }
  g.fillStyle = '#1f5fbf';
  g.fillText('training', 40, canvas.height - 10);
  g.fillStyle = '#d2691e';
  g.fillText('validation', 110, canvas.height - 10);
}

function showImage(session, index, top) {
  const [pixels, width, truth] = session.test_image(index);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = width;
  const image = canvas.getContext('2d').createImageData(width, width);
  pixels.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
  canvas.getContext('2d').putImageData(image, 0, 0);
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  const ranked = top.map(([name, p]) => `${name} ${(100 * p).toFixed(1)}%`);
  caption.innerHTML = `<b>${truth}</b><br>` + ranked.join('<br>');
  figure.append(canvas, caption);
  $('images').append(figure);
  return `test image ${index} (${truth}): ${ranked.join(', ')}`;
}

async function train(session, model, epochs, limit) {
  curves.train = [];
  curves.val = [];
  $('images').textContent = '';
  say(`training ${model} for ${epochs} epoch(s) on ${limit || 'all'} images`);
  const onProgress = (epoch, total, step, steps, loss, accuracy) => {
    $('progress').max = total * steps;
    $('progress').value = (epoch - 1) * steps + step;
    curves.train.push({ x: epoch - 1 + step / steps, y: [loss, accuracy] });
    drawCurves();
  };
  const onEpoch = (line, loss, accuracy, valLoss, valAccuracy, samplesPerSecond) => {
    say(line, true);
    $('speed').textContent = `${samplesPerSecond.toFixed(0)} samples/s`;
    if (valLoss !== null) curves.val.push({ x: curves.val.length + 1, y: [valLoss, valAccuracy] });
    drawCurves();
  };
  say(await session.train(model, epochs, limit, onProgress, onEpoch), true);
  for (let i = 0; i < 8; i++) {
    const index = Math.floor((i * session.test_images()) / 8);
    say(showImage(session, index, await session.classify(index)));
  }
}

async function benchmark(session, filter, post) {
  say(`kernel benchmark${filter ? ` (rows with "${filter}")` : ''}: this takes minutes`);
  const report = await session.benchmark(7, filter);
  const link = $('download');
  link.href = URL.createObjectURL(new Blob([report], { type: 'application/json' }));
  link.hidden = false;
  say('benchmark done: the report is ready to download');
  if (post) await fetch('report', { method: 'POST', body: report });
}

async function main() {
  if (!navigator.gpu) {
    fail('this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome, Edge or Safari, '
      + 'or Firefox with WebGPU enabled');
    return;
  }
  await init();
  let session;
  try {
    session = await Session.open();
  } catch (e) {
    fail(`no WebGPU adapter: ${why(e)}`);
    return;
  }
  $('adapter').textContent = session.adapter();
  $('limits').textContent = session.limits();
  say(`adapter: ${session.adapter()}`);
  const bytes = await Promise.all(DATA.map(fetchBytes));
  say(session.load_fashion_mnist(...bytes));
  const busy = async (work) => {
    $('controls').disabled = true;
    try { await work(); } catch (e) { fail(why(e)); } finally { $('controls').disabled = false; }
  };
  $('train').onclick = () => busy(() => train(session, $('model').value, +$('epochs').value, +$('limit').value));
  $('bench').onclick = () => busy(() => benchmark(session, '', false));
  $('controls').disabled = false;

  const params = new URLSearchParams(location.search);
  if (params.has('train')) {
    await train(session, params.get('train'), +(params.get('epochs') || 1), +(params.get('limit') || 0));
    console.log('wgtrain: done');
  } else if (params.has('bench')) {
    await benchmark(session, params.get('bench'), params.has('post'));
    console.log('wgtrain: done');
  }
}

main().catch((e) => fail(why(e)));
