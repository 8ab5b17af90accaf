// embed.html: one <plumbing-chat> filling the frame, configured by URL parameters, for hosts
// that strip scripts from posts but allow an <iframe>:
//   <iframe src=".../embed.html?prompt=Hello&theme=auto&max-tokens=120" title="..."></iframe>
// The parameters are the widget's attributes: model, prompt, system, max-tokens, temperature,
// seed, autorun, theme, compact (a flag: present, "", "1" or "true" turns it on).
import { PlumbingChat } from './widget.js';

const ATTRS = ['model', 'prompt', 'system', 'max-tokens', 'temperature', 'seed', 'theme'];
const FLAGS = ['autorun', 'compact'];

const params = new URLSearchParams(location.search);
const chat = document.createElement('plumbing-chat');
for (const name of ATTRS) {
  const v = params.get(name);
  if (v != null) chat.setAttribute(name, v);
}
for (const name of FLAGS) {
  const v = params.get(name);
  if (v != null && !['0', 'false', 'no', 'off'].includes(v.toLowerCase())) chat.setAttribute(name, '');
}
document.body.append(chat);
PlumbingChat.define();
