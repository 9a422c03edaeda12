//! The eval runner: conversations from case files run through the real agent, scored for
//! answer quality, grounding, safety and multilingual behaviour.
