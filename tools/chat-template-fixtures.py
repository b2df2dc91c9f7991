#!/usr/bin/python3
"""Reference renderings of real chat templates by Python Jinja2 (Debian's python3-jinja2), the way
Hugging Face transformers' apply_chat_template renders them (sandboxed environment, trim_blocks,
lstrip_blocks, loopcontrols, raise_exception). test/data/chat-template.test.ts checks growlm's
rendering (@huggingface/jinja) against them.

    /usr/bin/python3 tools/chat-template-fixtures.py > test/fixtures/chat-templates.json
"""
import json

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = {
    # HF ChatML (SmolLM2-Instruct's chat_template)
    "chatml": {
        "bos": "", "eos": "<|im_end|>",
        "source": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    },
    # Meta-Llama-3-8B-Instruct
    "llama3": {
        "bos": "<|begin_of_text|>", "eos": "<|eot_id|>",
        "source": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    },
    # Mistral-7B-Instruct-v0.1
    "mistral": {
        "bos": "<s>", "eos": "</s>",
        "source": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    },
    # Qwen2-Instruct: a multi-line template (trim_blocks / lstrip_blocks matter) with a default system prompt
    "qwen2": {
        "bos": "", "eos": "<|im_end|>",
        "source": "{% for message in messages %}\n    {% if loop.first and messages[0]['role'] != 'system' %}\n        {{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n    {% endif %}\n    {{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}\n{% endfor %}\n{% if add_generation_prompt %}\n    {{ '<|im_start|>assistant\\n' }}\n{% endif %}\n",
    },
}

CONVERSATIONS = {
    "one turn": [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}],
    "system": [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of Peru?"}, {"role": "assistant", "content": "Lima"}],
    "multi-turn": [
        {"role": "user", "content": "Define the noun cat."},
        {"role": "assistant", "content": "A small domesticated carnivore."},
        {"role": "user", "content": "And dog?"},
        {"role": "assistant", "content": "A domesticated canid."},
    ],
    "prompt only": [{"role": "user", "content": "Hello"}],
    "whitespace and unicode": [{"role": "user", "content": "  Ünïcödé — \"quotes\"\n\tand tabs  "}, {"role": "assistant", "content": "\n réponse ✓ \n"}],
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.globals["raise_exception"] = raise_exception

cases = []
for tname, t in TEMPLATES.items():
    compiled = env.from_string(t["source"])
    for cname, messages in CONVERSATIONS.items():
        for gen in (False, True):
            case = {"template": tname, "conversation": cname, "messages": messages, "add_generation_prompt": gen}
            try:
                case["rendered"] = compiled.render(messages=messages, add_generation_prompt=gen, bos_token=t["bos"], eos_token=t["eos"])
            except jinja2.exceptions.TemplateError as e:
                case["error"] = str(e)
            cases.append(case)

print(json.dumps({"generator": "tools/chat-template-fixtures.py", "jinja2": jinja2.__version__, "templates": TEMPLATES, "cases": cases}, ensure_ascii=False, indent=1))
